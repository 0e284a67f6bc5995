"""`make bench STACK=dev`: measure, in one run on this machine, the service beside bare
references, and write a report: reports/bench/<UTC stamp>/bench.csv (one row per target)
and bench.png (throughput and p99 latency per target beside its bare reference). With
`--write-doc` (`make bench WRITE_DOC=1`) it also rewrites docs/performance.md.

(a) bare references: aiohttp hello-world, and aiohttp + redis-py doing a chat turn's
    Redis work, as host processes against a local redis-server (AOF everysec);
(b) redis-benchmark against the stack's Redis, from a container on the stack's network;
(c) the service: as a host process with the offline model (the same footing as the bare
    references), once with one worker (LUCIA_WORKERS=1) and once with as many as the
    machine's CPUs (LUCIA_WORKERS=auto, the container's default), and the deployed stack
    through its published port (with its simulators), and its `/alive` and `/health` at
    the service container's own address on the stack network (no port publishing);
(d) session-write latency: the service's own Store.record_turn, p50/p99;
(e) container memory idle and after load, image sizes, time from start to healthy.

Every service figure is printed as a ratio to its bare reference. Traffic goes only to
127.0.0.1 and to the stack's own containers (tests/load/driver.py checks each target)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker

from lucia.settings import Settings
from lucia.store import Store, make_redis_client
from lucia.workers import available_cpus, cgroup_cpu_limit, worker_count
from lucia_deploy.waiting import wait_until
from tests.load.driver import SESSIONS, Measurement, drive, percentile, stack_addresses
from tests.support.deployed import Deployed
from tests.support.processes import start
from tests.support.redis_server import RedisServer, free_port
from tests.support.run_sessions import forget_run, redis_keys

REPO = Path(__file__).resolve().parents[2]
SWARM_SECTION = "<!-- the swarm stack: not written by make bench -->"
CHAT = {"message": "hello there"}


def chat_body(session_id: str) -> dict[str, str]:
    return {**CHAT, "sessionId": session_id}


def mib(value: float) -> str:
    return f"{value / 1024 / 1024:.0f} MiB"


def memory(container: Any) -> float:
    stats = container.stats(stream=False)
    usage = stats["memory_stats"]
    return usage.get("usage", 0) - usage.get("stats", {}).get("inactive_file", 0)


def redis_benchmark(client: docker.DockerClient, deployed: Deployed) -> dict[str, float]:
    output = client.containers.run(
        deployed.outputs["redis_image"],
        # redis-benchmark reads no password variable, so it takes -a; the container is
        # gone when it ends.
        entrypoint=["redis-benchmark", "-h", "redis", "-q", "-n", "50000", "-c", "20",
                    "-a", deployed.secrets["redisPassword"], "-t", "set,get,lpush,lrange_100"],
        network=deployed.outputs["network"], remove=True, read_only=True,
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"], user="redis")
    # Without -r, redis-benchmark writes these literal keys: remove them (mylist holds
    # 50,000 entries) so a bench leaves the stack's Redis as it found it.
    subprocess.run(["docker", "exec", deployed.container_name("redis"), "redis-cli", "DEL",
                    "key:__rand_int__", "mylist", "counter:__rand_int__"],
                   check=True, capture_output=True)
    results = {}
    for line in output.decode().splitlines():
        found = re.search(r"^(\S+?):\s+([\d.]+) requests per second", line.strip())
        if found:
            results[found.group(1)] = float(found.group(2))
    return results


async def session_writes(url: str, count: int, password: str | None = None,
                         username: str | None = None) -> tuple[float, float]:
    settings = Settings(redis_url=url, redis_password=password, redis_username=username)
    store = Store(make_redis_client(settings), settings)
    timings = []
    # A real timestamp: the clean-up at the end (lucia.retention) reads lastAccessedAt.
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    entries = [{"role": "user", "content": "x" * 40, "timestamp": now},
               {"role": "assistant", "content": "y" * 80, "timestamp": now}]
    for index in range(count):
        started = time.perf_counter()
        await store.record_turn(f"{SESSIONS}writes-{index % 50}", entries, now,
                                {"id": f"{SESSIONS}task-{index}", "status": {}})
        timings.append(time.perf_counter() - started)
    await store.close()
    timings.sort()
    return percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000


def time_to_healthy(container: Any) -> float:
    container.restart(timeout=15)

    def healthy() -> bool:
        container.reload()
        return container.attrs["State"].get("Health", {}).get("Status") == "healthy"
    return wait_until(healthy, 120, f"{container.name} healthy")[1]


@dataclass(frozen=True)
class HostRows:
    """The service as a host process: /alive, chat at the bench's concurrency, chat at 50."""

    alive: Measurement
    chat: Measurement
    chat50: Measurement


def worker_label(workers: str) -> str:
    if workers != "auto":
        return f"{workers} worker" + ("s" if workers != "1" else "")
    count = worker_count("auto", cgroup_cpu_limit(), available_cpus())
    return f"{count} workers (`LUCIA_WORKERS=auto`)"


@dataclass(frozen=True)
class Row:
    """One target of the report, with the bare reference it is compared to (if any)."""

    target: str
    m: Measurement
    reference: str = ""
    ref: Measurement | None = None

    @property
    def ratio(self) -> float | None:
        return self.m.rps / self.ref.rps if self.ref else None

    def markdown(self) -> str:
        m = self.m
        ratio = f"{self.ratio:.0%}" if self.ratio is not None else ""
        return (f"| {self.target} | {m.rps:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | "
                f"{m.errors} | {ratio} |")


def mean(a: Measurement, b: Measurement) -> Measurement:
    return Measurement((a.rps + b.rps) / 2, (a.p50_ms + b.p50_ms) / 2,
                       (a.p99_ms + b.p99_ms) / 2, a.errors + b.errors, a.requests + b.requests)


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["target", "req/s", "p50 ms", "p99 ms", "errors", "ratio", "reference"])
        for r in rows:
            out.writerow([r.target.replace("`", ""), f"{r.m.rps:.1f}", f"{r.m.p50_ms:.2f}",
                          f"{r.m.p99_ms:.2f}", r.m.errors,
                          f"{r.ratio:.3f}" if r.ratio is not None else "",
                          r.reference.replace("`", "")])


def write_chart(path: Path, rows: list[Row], title: str) -> None:
    """Two panels, throughput and p99 latency: a bar per target, and beside it (grey) the
    bare reference it is compared to."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.target.replace("`", "") for r in rows]
    ys = list(range(len(rows)))[::-1]
    height = 0.38
    fig, axes = plt.subplots(1, 2, figsize=(15, 0.5 * len(rows) + 2.2), sharey=True)
    for axis, label, value in ((axes[0], "requests/s (higher is better)", "rps"),
                               (axes[1], "p99 latency, ms (lower is better)", "p99_ms")):
        measured = [getattr(r.m, value) for r in rows]
        bare = [getattr(r.ref, value) if r.ref else 0.0 for r in rows]
        colours = ["#4c72b0" if r.ref else "#55a868" for r in rows]
        axis.barh([y + height / 2 for y in ys], measured, height, color=colours,
                  label="target (green: a bare reference itself)")
        axis.barh([y - height / 2 for y in ys], bare, height, color="#bbbbbb",
                  label="its bare reference, same run")
        for y, r, v in zip(ys, rows, measured, strict=True):
            note = f"{v:,.0f}" if value == "rps" else f"{v:.1f}"
            if value == "rps" and r.ratio is not None:
                note += f"  ({r.ratio:.0%} of bare)"
            axis.text(v, y + height / 2, " " + note, va="center", fontsize=7)
        axis.set_xlabel(label)
        axis.grid(axis="x", alpha=0.3)
        axis.margins(x=0.25)
    axes[0].set_yticks(ys, [textwrap.fill(n, 60) for n in names], fontsize=7)
    axes[0].legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def service_address(client: docker.DockerClient, deployed: Deployed) -> str:
    """The service's URL at its container's own address on the stack network: the IP
    Docker reports, and the container port its published port maps to."""
    name = deployed.container_name("service")
    container = client.containers.get(name)
    published = str(deployed.outputs["service_port"])
    for port, bindings in container.attrs["NetworkSettings"]["Ports"].items():
        if any(b.get("HostPort") == published for b in bindings or []):
            return f"http://{stack_addresses(deployed)[name]}:{port.split('/')[0]}"
    raise SystemExit(f"{name} publishes no port {published}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--write-doc", action="store_true",
                        help="also rewrite docs/performance.md from this run")
    parser.add_argument("--out", type=Path, default=None,
                        help="report directory (default reports/bench/<UTC stamp>)")
    args = parser.parse_args()
    stamp = datetime.now(UTC)
    out = args.out or REPO / "reports" / "bench" / stamp.strftime("%Y%m%dT%H%M%SZ")
    deployed = Deployed.load(args.stack)
    client = docker.from_env()
    service = client.containers.get(deployed.container_name("service"))
    inside = service_address(client, deployed)
    keys_before = redis_keys(deployed.container_name("redis"))
    c, s = args.concurrency, args.seconds
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    processes = []
    with tempfile.TemporaryDirectory() as tmp:
        redis_local = RedisServer(Path(tmp) / "redis")
        redis_local.start()
        subprocess.run(["redis-cli", "-p", str(redis_local.port), "config", "set",
                        "appendonly", "yes"], check=True, capture_output=True)
        try:
            hello, hello_url = start("tests.load.bare", "hello", port=free_port(),
                                     ready_path="/alive")
            bare, bare_url = start("tests.load.bare", "redis", "--redis-url", redis_local.url,
                                   ready_path="/alive")
            host = {}
            for workers in ("1", "auto"):
                host[workers] = start("lucia", ready_path="/alive", env={
                    "REDIS_URL": redis_local.url, "LUCIA_LOG_LEVEL": "WARNING",
                    "LUCIA_WORKERS": workers})
            processes += [hello, bare, *(process for process, _ in host.values())]
            print("==> measuring (each figure is a closed loop of "
                  f"{c} clients for {s:g} s)", flush=True)
            idle = memory(service)
            auth = deployed.auth()
            # The published path between two measurements of its reference, so that their
            # ratio holds on a shared machine (the reference is their mean; their spread
            # says how much the machine moved meanwhile).
            hello_before = drive("GET", f"{hello_url}/alive", concurrency=c, seconds=s)
            m_alive = drive("GET", f"{deployed.url}/alive", concurrency=c, seconds=s)
            m_health = drive("GET", f"{deployed.url}/health", concurrency=c, seconds=s,
                             headers=auth)
            m_alive_in = drive("GET", f"{inside}/alive", concurrency=c, seconds=s,
                               stack=deployed)
            m_health_in = drive("GET", f"{inside}/health", concurrency=c, seconds=s,
                                headers=auth, stack=deployed)
            hello_after = drive("GET", f"{hello_url}/alive", concurrency=c, seconds=s)
            m_hello = mean(hello_before, hello_after)
            m_bare = drive("POST", f"{bare_url}/api/chat", concurrency=c, seconds=s,
                           body=chat_body)
            m_bare50 = drive("POST", f"{bare_url}/api/chat", concurrency=50, seconds=s,
                             body=chat_body)
            m_host: dict[str, HostRows] = {}
            for workers, (_, url) in host.items():
                m_host[workers] = HostRows(
                    drive("GET", f"{url}/alive", concurrency=c, seconds=s),
                    drive("POST", f"{url}/api/chat", concurrency=c, seconds=s,
                          body=chat_body),
                    drive("POST", f"{url}/api/chat", concurrency=50, seconds=s,
                          body=chat_body))
            m_chat = drive("POST", f"{deployed.url}/api/chat", concurrency=c, seconds=s,
                           body=chat_body, headers=auth)
            status, _ = deployed.call("POST", "/api/chat", chat_body(f"{SESSIONS}read"))
            assert status == 200, f"could not create the session to read ({status})"
            m_session = drive("GET", f"{deployed.url}/api/sessions/{SESSIONS}read",
                              concurrency=c, seconds=s, headers=auth)
            after = memory(service)
            writes_local = asyncio.run(session_writes(redis_local.url, 2000))
        finally:
            for process in processes:
                process.terminate()
                process.communicate(timeout=10)
            redis_local.stop()
    published = deployed.outputs.get("redis_published_port")
    writes_stack = asyncio.run(session_writes(
        f"redis://127.0.0.1:{published}/0", 2000, deployed.secrets["redisServicePassword"],
        "lucia")) if published else None
    redis_ops = redis_benchmark(client, deployed)
    healthy_seconds = time_to_healthy(service)
    sizes = {ref: client.images.get(deployed.outputs[f"{key}_image"]).attrs["Size"]
             for key, ref in (("service", "service"), ("redis", "redis"))}

    hello_name = "bare aiohttp hello-world `GET /alive` (mean of two)"
    bare_name = "bare aiohttp + redis-py, a chat turn's Redis work"
    bare50_name = f"{bare_name}, 50 clients"
    st = f"stack {args.stack}"
    rows = [Row(hello_name, m_hello), Row(bare_name, m_bare), Row(bare50_name, m_bare50)]
    for workers, host_rows in m_host.items():
        name = f"lucia host process, {worker_label(workers)}"
        rows += [Row(f"{name}, `GET /alive`", host_rows.alive, hello_name, m_hello),
                 Row(f"{name}, `POST /api/chat` (offline model)", host_rows.chat, bare_name,
                     m_bare),
                 Row(f"{name}, `POST /api/chat`, 50 clients", host_rows.chat50, bare50_name,
                     m_bare50)]
    rows += [
        Row(f"{st} `GET /alive` (published port, iptables forwarding)", m_alive, hello_name,
            m_hello),
        Row(f"{st} `GET /health` (published port; Redis + HA checks, 1 s reuse)", m_health,
            hello_name, m_hello),
        Row(f"{st} `GET /alive` (the container's own address on the stack network)",
            m_alive_in, hello_name, m_hello),
        Row(f"{st} `GET /health` (the container's own address on the stack network)",
            m_health_in, hello_name, m_hello),
        Row(f"{st} `POST /api/chat` (LLM simulator)", m_chat, bare_name, m_bare),
        Row(f"{st} `GET /api/sessions/{{id}}`", m_session, bare_name, m_bare),
    ]
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "bench.csv", rows)
    write_chart(out / "bench.png", rows, f"make bench STACK={args.stack}, "
                f"{stamp.strftime('%Y-%m-%d %H:%M UTC')}: {c} clients (50 where named), "
                f"{s:g} s each, closed loop, {os.cpu_count()} cores shared by all")

    say("# Performance")
    say()
    say(f"Generated by `make bench STACK={args.stack} WRITE_DOC=1` on "
        f"{stamp.strftime('%Y-%m-%d %H:%M UTC')}, on a machine with "
        f"{os.cpu_count()} cores ({platform.machine()}); the load driver, the service and "
        "the references share those cores. Absolute numbers depend on the machine; the "
        "ratios are what carries over. Every run of `make bench` writes the same figures "
        "to `reports/bench/<UTC stamp>/` (`bench.csv`, and `bench.png`: throughput and "
        "p99 per target beside its bare reference); only `WRITE_DOC=1` rewrites this page.")
    say()
    say("Command: `make bench STACK=" + args.stack + " WRITE_DOC=1` (`python -m "
        f"tests.load.bench --stack {args.stack} --concurrency {c} --seconds {s:g} "
        "--write-doc`).")
    say()
    say(f"## HTTP ({c} concurrent clients, closed loop, {s:g} s each)")
    say()
    say("| target | req/s | p50 ms | p99 ms | errors | ratio to bare |")
    say("|---|---|---|---|---|---|")
    for r in rows:
        say(r.markdown())
    say()
    say("The host-process rows run the same code as the container with the offline model "
        "against the same local Redis as the bare references: they isolate the service's "
        "own cost. The bare references are single processes; the service runs once with "
        "one worker and once with `LUCIA_WORKERS=auto` (one per CPU, as in the container), "
        "so the second pair of rows shows what the extra workers buy on a machine whose "
        "cores the load driver and Redis share. The stack rows go through the published "
        "port (dockerd with `\"userland-proxy\": false`: iptables forwards it) or straight "
        "to the service container's address on the stack network, which isolates the "
        "container from the publishing; chat adds two calls to the LLM simulator (routing "
        "and answer) per turn. The four stack `/alive` and `/health` rows are measured "
        "between two runs of the hello-world reference, whose mean is the row above: "
        f"{hello_before.rps:,.0f} req/s before them and {hello_after.rps:,.0f} after "
        f"({abs(hello_after.rps - hello_before.rps) / max(hello_before.rps, hello_after.rps):.0%}"
        " apart; a large spread means the machine's other load moved during the run, and "
        "the ratios are only as good as that).")
    say()
    multi = m_host["auto"]
    say("### Goals (issue 13)")
    say()
    say("| goal | measured | met |")
    say("|---|---|---|")
    health_ratio = m_health.rps / m_hello.rps
    say(f"| the deployed `/health` (published port) at least 60% of the bare hello-world | "
        f"{health_ratio:.0%} (at the container's own address "
        f"{m_health_in.rps / m_hello.rps:.0%}; `/alive` published "
        f"{m_alive.rps / m_hello.rps:.0%}) | {'yes' if health_ratio >= 0.6 else 'no'} |")
    ratio = multi.chat.rps / m_bare.rps
    say(f"| host-process chat, {worker_label('auto')}, at least 100% of the single-process "
        f"bare reference ({c} clients) | {ratio:.0%} | {'yes' if ratio >= 1 else 'no'} |")
    ratio50 = multi.chat50.rps / m_bare50.rps
    say(f"| the same at 50 clients | {ratio50:.0%} | {'yes' if ratio50 >= 1 else 'no'} |")
    say(f"| host-process chat p99 under 50 ms at 50 clients, {worker_label('auto')} | "
        f"{multi.chat50.p99_ms:.1f} ms (bare reference {m_bare50.p99_ms:.1f} ms; one worker "
        f"{m_host['1'].chat50.p99_ms:.1f} ms) | {'yes' if multi.chat50.p99_ms < 50 else 'no'} |")
    say()
    say("## Redis")
    say()
    say("| measure | value |")
    say("|---|---|")
    for name, value in redis_ops.items():
        say(f"| redis-benchmark {name} (stack network, 20 clients) | {value:,.0f} ops/s |")
    say(f"| session write (`Store.record_turn`, one MULTI), local Redis | "
        f"p50 {writes_local[0]:.2f} ms, p99 {writes_local[1]:.2f} ms |")
    if writes_stack:
        say(f"| session write, stack Redis via 127.0.0.1:{published} | "
            f"p50 {writes_stack[0]:.2f} ms, p99 {writes_stack[1]:.2f} ms |")
    say()
    say("## Containers")
    say()
    say("| measure | value |")
    say("|---|---|")
    say(f"| service memory idle | {mib(idle)} |")
    say(f"| service memory after the load above | {mib(after)} |")
    say(f"| service image `{deployed.outputs['service_image']}` | {mib(sizes['service'])} |")
    say(f"| redis image `{deployed.outputs['redis_image']}` | {mib(sizes['redis'])} |")
    say(f"| service restart to healthy | {healthy_seconds:.1f} s |")
    say()
    say("## Seed baseline, for comparison")
    say()
    say("The .NET predecessor promised: health < 100 ms, chat (cached) 200-500 ms, 50+ "
        "concurrent requests without degradation, Redis > 10,000 ops/s, a session write "
        "< 10 ms, 200-400 MB RAM idle. It never measured them.")
    (out / "performance.md").write_text("\n".join(lines) + "\n")
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    print(f"\nwrote {shown}/bench.csv, bench.png and performance.md (this run's page)")
    if args.write_doc:
        doc = REPO / "docs" / "performance.md"
        # The swarm stack's section is measured by other runs (tests/load/swarm_scale.py,
        # tests/faults/test_swarm.py): kept as it is.
        kept = doc.read_text().partition(SWARM_SECTION)[2] if doc.exists() else ""
        doc.write_text("\n".join(lines) + "\n" + (f"\n{SWARM_SECTION}{kept}" if kept else ""))
        print("wrote docs/performance.md (--write-doc)")
    else:
        print("docs/performance.md left as it was (rewrite it with "
              f"make bench STACK={args.stack} WRITE_DOC=1)")
    cleanup = forget_run(args.stack, deployed.container_name("redis"), SESSIONS, keys_before)
    print(cleanup.line())
    if cleanup.keys_after > cleanup.keys_before:
        print(f"bench: the run left {cleanup.keys_after - cleanup.keys_before} Redis key(s) "
              "behind", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
