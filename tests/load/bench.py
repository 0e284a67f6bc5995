"""`make bench STACK=dev`: measure, in one run on this machine, the service beside bare
references, and write docs/performance.md.

(a) bare references: aiohttp hello-world, and aiohttp + redis-py doing a chat turn's
    Redis work, as host processes against a local redis-server (AOF everysec);
(b) redis-benchmark against the stack's Redis, from a container on the stack's network;
(c) the service: as a host process with the offline model (the same footing as the bare
    references), once with one worker (LUCIA_WORKERS=1) and once with as many as the
    machine's CPUs (LUCIA_WORKERS=auto, the container's default), and the deployed stack
    through its published port (with its simulators);
(d) session-write latency: the service's own Store.record_turn, p50/p99;
(e) container memory idle and after load, image sizes, time from start to healthy.

Every service figure is printed as a ratio to its bare reference. Traffic goes only to
127.0.0.1 and between the stack's own containers."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
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
from tests.load.driver import SESSIONS, Measurement, drive, percentile
from tests.support.deployed import Deployed
from tests.support.processes import start
from tests.support.redis_server import RedisServer, free_port
from tests.support.run_sessions import forget_run, redis_keys

REPO = Path(__file__).resolve().parents[2]
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


def row(name: str, m: Measurement, ref: Measurement | None = None) -> str:
    ratio = f"{m.rps / ref.rps:.0%}" if ref else ""
    return (f"| {name} | {m.rps:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | {m.errors} | "
            f"{ratio} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    deployed = Deployed.load(args.stack)
    client = docker.from_env()
    service = client.containers.get(deployed.container_name("service"))
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
            m_hello = drive("GET", f"{hello_url}/alive", concurrency=c, seconds=s)
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
            auth = deployed.auth()
            m_alive = drive("GET", f"{deployed.url}/alive", concurrency=c, seconds=s)
            m_health = drive("GET", f"{deployed.url}/health", concurrency=c, seconds=s,
                             headers=auth)
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

    say("# Performance")
    say()
    say(f"Generated by `make bench STACK={args.stack}` on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, on a machine with "
        f"{os.cpu_count()} cores ({platform.machine()}); the load driver, the service and "
        "the references share those cores. Absolute numbers depend on the machine; the "
        "ratios are what carries over.")
    say()
    say("Command: `make bench STACK=" + args.stack + "` (`python -m tests.load.bench "
        f"--stack {args.stack} --concurrency {c} --seconds {s:g}`).")
    say()
    say(f"## HTTP ({c} concurrent clients, closed loop, {s:g} s each)")
    say()
    say("| target | req/s | p50 ms | p99 ms | errors | ratio to bare |")
    say("|---|---|---|---|---|---|")
    say(row("bare aiohttp hello-world `GET /alive`", m_hello))
    say(row("bare aiohttp + redis-py, a chat turn's Redis work", m_bare))
    say(row("bare aiohttp + redis-py, a chat turn's Redis work, 50 clients", m_bare50))
    for workers, rows in m_host.items():
        name = f"lucia host process, {worker_label(workers)}"
        say(row(f"{name}, `GET /alive`", rows.alive, m_hello))
        say(row(f"{name}, `POST /api/chat` (offline model)", rows.chat, m_bare))
        say(row(f"{name}, `POST /api/chat`, 50 clients", rows.chat50, m_bare50))
    say(row(f"stack {args.stack} `GET /alive` (through Docker's port publishing)", m_alive,
            m_hello))
    say(row(f"stack {args.stack} `GET /health` (Redis + HA checks, 1 s reuse)", m_health,
            m_hello))
    say(row(f"stack {args.stack} `POST /api/chat` (LLM simulator)", m_chat, m_bare))
    say(row(f"stack {args.stack} `GET /api/sessions/{{id}}`", m_session, m_bare))
    say()
    say("The host-process rows run the same code as the container with the offline model "
        "against the same local Redis as the bare references: they isolate the service's "
        "own cost. The bare references are single processes; the service runs once with "
        "one worker and once with `LUCIA_WORKERS=auto` (one per CPU, as in the container), "
        "so the second pair of rows shows what the extra workers buy on a machine whose "
        "cores the load driver and Redis share. The stack rows add Docker's port publishing "
        "and, for chat, two calls to the LLM simulator (routing and answer) per turn.")
    say()
    multi = m_host["auto"]
    say("### Goals (issue 13, both CPUs)")
    say()
    say("| goal | measured | met |")
    say("|---|---|---|")
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
    (REPO / "docs" / "performance.md").write_text("\n".join(lines) + "\n")
    print("\nwrote docs/performance.md")
    cleanup = forget_run(args.stack, deployed.container_name("redis"), SESSIONS, keys_before)
    print(cleanup.line())
    if cleanup.keys_after > cleanup.keys_before:
        print(f"bench: the run left {cleanup.keys_after - cleanup.keys_before} Redis key(s) "
              "behind", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
