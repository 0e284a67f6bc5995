"""Prove the edge (infra/images/haproxy) in front of lucia replicas on Docker Swarm.

    python3 tests/swarm/edge_probe.py [--port 5590] [--keep]

Self-contained: the Python standard library and the `docker` CLI, nothing from this
repository is imported. It needs the images built beforehand: the edge
(lucia-edge:2.6-bookworm-r1, `lucia_deploy.images.build_edge`), the service (lucia:0.1.0),
Redis (lucia-redis:7.0-bookworm-r1) and the simulators (lucia-sims:0.1.0), which
`make up` builds.

What it creates, all named lucia-edgeprobe-<id>-*, and removes at the end (also on
failure or Ctrl-C; `--keep` leaves them for a look): an attachable overlay network; Redis
and the LLM simulator as one-replica services on it; the service with two replicas
(`--endpoint-mode dnsrr`: this kernel has no IPVS, so VIP mode cannot work); the edge as
a hardened container published on 127.0.0.1 only. If the node is not a swarm manager it
runs `docker swarm init` and says so. It never leaves the swarm: on Docker 20.10,
leaving breaks the embedded DNS of every running container on bridge networks.

It shows, with numbers:
  1. hardening: the edge runs as haproxy with a read-only root, no capabilities,
     no-new-privileges, no setuid/setgid file, and its own HEALTHCHECK reports healthy;
  2. spread: sequential requests reach both replicas (counted from the edge's log);
  3. kill: `docker kill` of one replica's container under a loop of requests (GET /alive
     and POST /api/chat) fails none of them; Swarm replaces the task and the edge finds
     the new one through DNS;
  4. stream: POST /api/chat with Accept: text/event-stream arrives through the edge event
     by event as the LLM produces tokens (each gap within 0.15 s of the LLM's), not
     buffered or merged; a direct request from inside a replica is the reference;
  5. stop: `docker stop` (SIGUSR1, graceful) ends the edge with exit code 0.

Exit status 0 when every check passed, 1 otherwise; the last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import calendar
import http.client
import itertools
import json
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

EDGE_IMAGE = "lucia-edge:2.6-bookworm-r1"
SERVICE_IMAGE = "lucia:0.1.0"
REDIS_IMAGE = "lucia-redis:7.0-bookworm-r1"
SIM_IMAGE = "lucia-sims:0.1.0"
# One access line of the edge's log-format (infra/images/haproxy/haproxy.cfg).
ACCESS = re.compile(r'^\S+ \[[^\]]+\] web lucia/(?P<slot>\S+?)\((?P<ip>[^:()]*):\S*\) '
                    r'\S+ (?P<status>-?\d+) \S+ (?P<term>\S+) \S+/\S+/\S+/\S+/(?P<retries>\+?\d+) '
                    r'\S+ "(?P<method>\S+) (?P<path>\S+)')

# Run inside a replica (its image has Python): the token arrival times of one streamed
# turn straight from the service, as a JSON list of seconds.
DIRECT_STREAM = """
import http.client, json, time
conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=60)
started = time.monotonic()
conn.request("POST", "/api/chat", body=json.dumps({"message": "tell me a story"}),
             headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
response = conn.getresponse()
times = []
while line := response.readline():
    if line.startswith(b"event: token"):
        times.append(time.monotonic() - started)
print(json.dumps(times))
"""


class ProbeError(RuntimeError):
    pass


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise ProbeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def say(message: str) -> None:
    print(f"[edge-probe {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Probe:
    port: int
    prefix: str
    results: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def net(self) -> str:
        return f"{self.prefix}-net"

    @property
    def service(self) -> str:
        return f"{self.prefix}-service"

    @property
    def edge(self) -> str:
        return f"{self.prefix}-edge"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check(self, ok: bool, what: str) -> None:
        say(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)

    # -- set-up -------------------------------------------------------------------------

    def preflight(self) -> None:
        for image in (EDGE_IMAGE, SERVICE_IMAGE, REDIS_IMAGE, SIM_IMAGE):
            if not docker("images", "-q", image):
                raise ProbeError(f"image {image} is missing; build it first (edge: "
                                 "lucia_deploy.images.build_edge; the others: make up)")
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}} "
                                           "{{.Swarm.ControlAvailable}}")
        if state == "inactive":
            say("this node is not in a swarm: docker swarm init --advertise-addr 127.0.0.1 "
                "(it stays a swarm node afterwards; never `docker swarm leave` here)")
            docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        elif state != "active true":
            raise ProbeError(f"this node is in a swarm but not a manager ({state})")

    def service_create(self, name: str, *args: str) -> None:
        docker("service", "create", "--detach", "--name", name, "--read-only",
               "--cap-drop", "ALL", "--limit-pids", "128", "--limit-memory", "256m",
               *args)

    def up(self) -> None:
        """Everything but the edge is a swarm service: a plain container attaching to an
        attachable overlay while the network is being set up on the node can fail with
        `network ... not found` (Docker 20.10) and leave an attachment task behind that
        no API removes, which pins the network. The edge attaches last, once the
        service's tasks run, so the network already exists on the node."""
        say(f"creating {self.prefix}-*")
        docker("network", "create", "--driver", "overlay", "--attachable", self.net)
        self.service_create(f"{self.prefix}-redis", "--endpoint-mode", "dnsrr",
                            "--network", f"name={self.net},alias=redis",
                            "--mount", "type=tmpfs,destination=/data",
                            "--mount", "type=tmpfs,destination=/tmp",
                            REDIS_IMAGE, "--dir", "/tmp", "--protected-mode", "no",
                            "--save", "", "--appendonly", "no")
        self.service_create(f"{self.prefix}-llm", "--endpoint-mode", "dnsrr",
                            "--network", f"name={self.net},alias=llm", SIM_IMAGE)
        self.service_create(self.service, "--replicas", "2", "--endpoint-mode", "dnsrr",
                            "--network", self.net,
                            "--mount", "type=tmpfs,destination=/tmp,tmpfs-size=16777216",
                            "--env", "REDIS_URL=redis://redis:6379/0",
                            "--env", "ConnectionStrings__chat-model=Endpoint=http://llm:8000/v1;"
                                     "AccessKey=sim-key;Model=sim-model;Provider=openai",
                            SERVICE_IMAGE)
        deadline = time.monotonic() + 90
        while len(self.tasks()) < 2:
            if time.monotonic() > deadline:
                raise ProbeError(f"{self.service}: 2 replicas not running after 90 s:\n"
                                 + docker("service", "ps", "--no-trunc", self.service))
            time.sleep(1)
        docker("run", "--detach", "--name", self.edge, "--network", self.net,
               "--publish", f"127.0.0.1:{self.port}:8080", "--read-only", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges", "--pids-limit", "64",
               "--memory", "64m", "--cpus", "0.5",
               "--env", f"LUCIA_EDGE_BACKEND=tasks.{self.service}", "--env", "LUCIA_EDGE_SLOTS=4",
               EDGE_IMAGE)

    def task_container(self, service: str) -> str:
        ids = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
        if not ids:
            raise ProbeError(f"{service} has no running task")
        return ids.split()[0]

    def tasks(self) -> dict[str, str]:
        """Running task containers of the service: IP on the overlay -> container id."""
        ids = docker("ps", "-q", "--filter",
                     f"label=com.docker.swarm.service.name={self.service}").split()
        found = {}
        for cid in ids:
            ip = docker("inspect", "--format",
                        f'{{{{(index .NetworkSettings.Networks "{self.net}").IPAddress}}}}', cid,
                        check=False)
            if ip:
                found[ip] = cid
        return found

    def access_log(self) -> list[re.Match[str]]:
        out = subprocess.run(["docker", "logs", self.edge], capture_output=True, text=True,
                             check=False).stdout
        return [m for line in out.splitlines() if (m := ACCESS.match(line))]

    def server_events(self, since: float) -> list[str]:
        """The edge's server state changes (DNS, health) after `since` (a Unix time),
        each with its offset in seconds, from the log's timestamps."""
        out = subprocess.run(["docker", "logs", "--timestamps", "--since", f"{since - 1:.3f}",
                              self.edge], capture_output=True, text=True, check=False).stdout
        events = []
        for line in out.splitlines():
            stamp, _, text = line.partition(" ")
            if ACCESS.match(text) or "lucia/" not in text:
                continue
            whole, _, fraction = stamp.rstrip("Z").partition(".")
            at = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + \
                float(f"0.{fraction or 0}")
            events.append(f"+{at - since:.1f}s {text}")
        return events

    def wait_ready(self, timeout: float = 90) -> None:
        """Both replicas answer through the edge (each seen in the edge's log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = self.tasks()
            if len(tasks) == 2:
                for _ in range(6):
                    get(self.url + "/alive")
                seen = {m["ip"] for m in self.access_log()[-6:] if m["status"] == "200"}
                if set(tasks) <= seen:
                    return
            time.sleep(1)
        raise ProbeError(f"the edge did not reach both replicas in {timeout:.0f} s; "
                         f"tasks {self.tasks()}; edge log:\n{docker('logs', self.edge)}")

    # -- checks -------------------------------------------------------------------------

    def hardening(self) -> None:
        info = json.loads(docker("inspect", self.edge))[0]
        host, config = info["HostConfig"], info["Config"]
        deadline = time.monotonic() + 40
        while info["State"].get("Health", {}).get("Status") == "starting" and \
                time.monotonic() < deadline:
            time.sleep(1)
            info = json.loads(docker("inspect", self.edge))[0]
        health = info["State"].get("Health", {}).get("Status")
        setuid = docker("exec", self.edge, "find", "/", "-xdev", "-perm", "/6000", "-type",
                        "f", check=False)
        uid = docker("exec", self.edge, "id", "-u")
        self.results["hardening"] = {"user": config.get("User"), "uid": uid,
                                     "readOnlyRoot": host["ReadonlyRootfs"],
                                     "capDrop": host["CapDrop"],
                                     "securityOpt": host["SecurityOpt"], "health": health,
                                     "setuidFiles": setuid.split()}
        self.check(config.get("User") == "haproxy" and uid not in ("", "0"),
                   f"edge runs as {config.get('User')} (uid {uid})")
        self.check(host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"] and
                   "no-new-privileges" in host["SecurityOpt"],
                   "edge: read-only root, all capabilities dropped, no-new-privileges")
        self.check(setuid == "", f"edge: no setuid/setgid files ({setuid.split()})")
        self.check(health == "healthy", f"edge HEALTHCHECK (monitor-uri): {health}")

    def spread(self, requests: int = 40) -> None:
        before = len(self.access_log())
        statuses = Counter(get(self.url + "/alive") for _ in range(requests))
        served = Counter(m["ip"] for m in self.access_log()[before:])
        self.results["spread"] = {"requests": requests, "statuses": dict(statuses),
                                  "perReplica": dict(served)}
        self.check(statuses == Counter({200: requests}) and len(served) == 2 and
                   min(served.values()) >= requests // 4,
                   f"spread: {requests} sequential requests, {dict(statuses)}, "
                   f"per replica {dict(served)}")

    def kill(self, workers: int = 4, before_kill: float = 3, after_kill: float = 9) -> None:
        tasks = self.tasks()
        victim_ip, victim = sorted(tasks.items())[0]
        stop = threading.Event()
        outcomes: Counter[str] = Counter()
        errors: list[str] = []
        lock = threading.Lock()

        def work(n: int) -> None:
            turn = 0
            while not stop.is_set():
                turn += 1
                if turn % 2:
                    status = get(self.url + "/alive")
                else:
                    status = post_json(self.url + "/api/chat",
                                       {"message": f"hello from worker {n}"})
                with lock:
                    outcomes[str(status)] += 1
                    if status != 200:
                        errors.append(f"worker {n}: {status}")

        before = len(self.access_log())
        threads = [threading.Thread(target=work, args=(n,), daemon=True)
                   for n in range(workers)]
        for thread in threads:
            thread.start()
        time.sleep(before_kill)
        killed_at = time.monotonic()
        killed_wall = time.time()
        docker("kill", victim)
        say(f"killed replica {victim[:12]} ({victim_ip}) under load")
        time.sleep(after_kill)
        memory = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", self.edge)
        stop.set()
        for thread in threads:
            thread.join(30)
        lines = self.access_log()[before:]
        retried = [m for m in lines if m["retries"] not in ("0", "+0")]
        to_victim_after = Counter(m["status"] for m in lines if m["ip"] == victim_ip)
        # Swarm replaces the task; the edge picks the new one up from DNS.
        replaced_in = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            current = self.tasks()
            if len(current) == 2 and victim_ip not in current:
                for _ in range(6):
                    get(self.url + "/alive")
                seen = {m["ip"] for m in self.access_log()[-6:]}
                if set(current) <= seen:
                    replaced_in = round(time.monotonic() - killed_at, 1)
                    break
            time.sleep(0.5)
        total = sum(outcomes.values())
        failed = total - outcomes["200"]
        self.results["kill"] = {
            "workers": workers, "requests": total, "failed": failed,
            "edgeMemoryUnderLoad": memory,
            "outcomes": dict(outcomes), "errors": errors[:10],
            "edgeLinesRetried": len(retried),
            "retriedExamples": [m.string for m in retried[:3]],
            "edgeLinesNot200": [m.string for m in lines if m["status"] != "200"][:10],
            "servedByKilledReplica": dict(to_victim_after),
            "replacedAndServingAfterSeconds": replaced_in,
            "edgeEventsAfterKill": self.server_events(killed_wall)}
        self.check(total > 0 and failed == 0,
                   f"kill: {total} requests with {workers} workers, one replica killed "
                   f"{before_kill:.0f} s in: {failed} failed, {len(retried)} retried by "
                   "the edge")
        self.check(replaced_in is not None,
                   f"kill: Swarm replaced the task and the edge serves it after "
                   f"{replaced_in} s")

    def stream(self, token_delay: float = 0.3, tokens: int = 10) -> None:
        sim_config = json.dumps({"token_delay": token_delay, "reply_tokens": tokens,
                                 "scope": "chat"})
        docker("exec", self.task_container(f"{self.prefix}-llm"), "python", "-c",
               "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request("
               "'http://127.0.0.1:8000/sim/config', data=sys.argv[1].encode(), "
               "headers={'Content-Type': 'application/json'}), timeout=5)", sim_config)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.monotonic()
        conn.request("POST", "/api/chat", body=json.dumps({"message": "tell me a story"}),
                     headers={"Content-Type": "application/json",
                              "Accept": "text/event-stream"})
        response = conn.getresponse()
        arrivals: list[tuple[float, str]] = []
        while True:
            line = response.readline()
            if not line:
                break
            if line.startswith(b"event: "):
                arrivals.append((time.monotonic() - started, line[7:].decode().strip()))
        conn.close()
        token_times = [t for t, event in arrivals if event == "token"]
        spread = token_times[-1] - token_times[0] if len(token_times) > 1 else 0.0
        expected = token_delay * (len(token_times) - 1)
        # The same request from inside a replica, straight to the service: the reference.
        direct = json.loads(docker("exec", self.task_container(self.service), "python", "-c",
                                   DIRECT_STREAM))
        direct_spread = direct[-1] - direct[0] if len(direct) > 1 else 0.0
        self.results["stream"] = {
            "status": response.status, "contentType": response.getheader("Content-Type"),
            "events": Counter(event for _, event in arrivals),
            "tokenDelaySeconds": token_delay,
            "firstTokenAt": round(token_times[0], 3) if token_times else None,
            "lastTokenAt": round(token_times[-1], 3) if token_times else None,
            "tokenArrivalSpreadSeconds": round(spread, 3),
            "directFromReplicaSpreadSeconds": round(direct_spread, 3),
            "directFirstTokenAt": round(direct[0], 3) if direct else None,
            "spreadIfUnbuffered": round(expected, 3)}
        first_lag = token_times[0] - direct[0] if token_times and direct else None
        # Unbuffered means each token arrives when the LLM made it: every gap between
        # two tokens is the simulator's delay (a proxy that merges writes bunches some).
        gaps = [b - a for a, b in itertools.pairwise(token_times)]
        worst = max((abs(gap - token_delay) for gap in gaps), default=float("inf"))
        self.results["stream"].update({
            "firstTokenLagVsDirect": round(first_lag, 3) if first_lag is not None else None,
            "worstGapDeviationSeconds": round(worst, 3)})
        self.check(response.status == 200 and len(token_times) >= 3 and
                   arrivals[-1][1] == "done" and spread >= 0.9 * expected and
                   worst < 0.15,
                   f"stream: {len(token_times)} token events over {spread:.2f} s through "
                   f"the edge, {direct_spread:.2f} s straight from a replica (the LLM spaced "
                   f"them {token_delay} s apart; the worst gap off by {worst:.3f} s); "
                   f"first token {'?' if first_lag is None else f'{first_lag:+.3f}'} s "
                   "against the direct one; ended with 'done'")

    def stop(self) -> None:
        """`docker stop` sends the image's STOPSIGNAL (SIGUSR1): a graceful stop."""
        started = time.monotonic()
        docker("stop", self.edge)
        took = time.monotonic() - started
        code = docker("inspect", "--format", "{{.State.ExitCode}}", self.edge)
        self.results["stop"] = {"seconds": round(took, 2), "exitCode": int(code)}
        self.check(code == "0" and took < 9,
                   f"stop: docker stop took {took:.1f} s, exit code {code}")

    # -- tear-down ----------------------------------------------------------------------

    def down(self) -> None:
        """Remove what the probe made, then verify it is gone. Verification must reach
        the engine: an unreachable engine (e.g. dockerd restarting) is a failure that
        names what to remove by hand, never a silent success. The swarm stays."""
        say(f"removing {self.prefix}-*")
        deadline = time.monotonic() + 90
        while not engine_reachable():
            if time.monotonic() > deadline:
                self.left_behind(["(engine unreachable: not verified)"])
                return
            time.sleep(2)
        docker("rm", "-f", "-v", self.edge, check=False)
        docker("service", "rm", self.service, f"{self.prefix}-llm", f"{self.prefix}-redis",
               check=False)
        # Task containers go asynchronously; the network is free once they have.
        while time.monotonic() < deadline:
            left = docker("ps", "-aq", "--filter", f"name={self.prefix}", check=False)
            if not left and engine_reachable():
                docker("network", "rm", self.net, check=False)
                if not self.network_exists():
                    break
            time.sleep(1)
        try:
            leftovers = docker("ps", "-a", "--format", "{{.Names}}", "--filter",
                               f"name={self.prefix}").split()
            leftovers += docker("service", "ls", "--format", "{{.Name}}", "--filter",
                                f"name={self.prefix}").split()
            if self.network_exists():
                leftovers.append(f"network {self.net}")
        except ProbeError as exc:
            leftovers = [f"(not verified: {exc})"]
        if leftovers:
            self.left_behind(leftovers)
        else:
            say("removed everything it created (the swarm itself stays)")

    def left_behind(self, what: list[str]) -> None:
        message = (f"left behind: {what}; remove by hand: docker rm -f {self.edge}; "
                   f"docker service rm {self.service} {self.prefix}-llm {self.prefix}-redis; "
                   f"docker network rm {self.net}")
        self.failures.append(message)
        say(f"FAIL {message}")

    def network_exists(self) -> bool:
        result = subprocess.run(["docker", "network", "inspect", self.net],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0 and "No such network" not in result.stderr and \
                "not found" not in result.stderr:
            raise ProbeError(f"docker network inspect {self.net}: {result.stderr.strip()}")
        return result.returncode == 0


def engine_reachable() -> bool:
    return subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True,
                          check=False).returncode == 0


def status_of(request: urllib.request.Request | str, timeout: float) -> int | str:
    """The status of one request, or the name of the error that stopped it."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        return type(exc).__name__


def get(url: str) -> int | str:
    return status_of(url, 10)


def post_json(url: str, body: dict[str, Any]) -> int | str:
    return status_of(urllib.request.Request(url, data=json.dumps(body).encode(), headers={
        "Content-Type": "application/json"}), 30)


def interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5590, help="edge port on 127.0.0.1")
    parser.add_argument("--keep", action="store_true", help="leave what it made running")
    args = parser.parse_args()
    probe = Probe(args.port, f"lucia-edgeprobe-{secrets.token_hex(3)}")
    try:
        probe.preflight()
        probe.up()
        probe.wait_ready()
        probe.hardening()
        probe.spread()
        probe.kill()
        probe.stream()
        probe.stop()
    except ProbeError as exc:
        probe.failures.append(str(exc))
        say(f"FAIL {exc}")
    finally:
        if args.keep:
            say(f"--keep: {probe.prefix}-* left running; the edge is {probe.url}")
        else:
            probe.down()
    print(json.dumps({"passed": not probe.failures, "failures": probe.failures,
                      **probe.results}, default=dict))
    return 0 if not probe.failures else 1


if __name__ == "__main__":
    sys.exit(main())
