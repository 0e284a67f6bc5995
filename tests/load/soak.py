"""`make soak STACK=<name> [SOAK_SECONDS=600]`: steady chat load for a long while, and the
stack must come out of it as it went in. Required, and printed with the figures:

- every request answered 2xx (a chat turn, reading the history, starting over);
- memory flat in every container of the stack: after the warm-up (the first fifth of the
  run), no container's memory grows beyond MARGIN (the larger of 10% and 16 MiB);
- no container restarted and none was OOM-killed;
- the run's sessions deleted at the end (docs/capacity.md).

Clients start over every STARTS_OVER turns (delete the session, open a new one), as
people do, so Redis holds a steady amount of conversation and its memory is a fair test
of leaks, not of retention. `make test` runs a 2-minute soak on the ci stack; the full
10-minute run is `make soak STACK=dev`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import docker

from tests.support.deployed import Deployed
from tests.support.run_sessions import forget_run, redis_keys, run_prefix

CLIENTS = 8
PAUSE_SECONDS = 0.02
STARTS_OVER = 20
SAMPLE_SECONDS = 5.0
WARM_UP_FRACTION = 0.2
MARGIN_FRACTION, MARGIN_BYTES = 0.10, 16 * 1024 * 1024
MESSAGES = ("hello there", "what is my name?", "my name is Alice", "tell me a joke",
            "set the temperature to 21 degrees")


@dataclass
class Samples:
    """Memory of each container over time, sampled in a thread (docker stats is slow)."""

    containers: list[Any]
    series: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            for container in self.containers:
                stats = container.stats(stream=False)
                usage = stats["memory_stats"].get("usage", 0) - \
                    stats["memory_stats"].get("stats", {}).get("inactive_file", 0)
                self.series.setdefault(container.name, []).append(
                    (time.monotonic() - started, usage))
            self.stop.wait(SAMPLE_SECONDS)


async def _client(session: aiohttp.ClientSession, url: str, prefix: str, index: int,
                  deadline: float, statuses: Counter[int]) -> None:
    turn, conversation = 0, 0
    while time.monotonic() < deadline:
        session_id = f"{prefix}{index}-{conversation}"
        body = {"message": MESSAGES[turn % len(MESSAGES)], "sessionId": session_id}
        async with session.post(f"{url}/api/chat", json=body) as response:
            await response.read()
            statuses[response.status] += 1
        turn += 1
        if turn % 5 == 0:
            async with session.get(f"{url}/api/sessions/{session_id}") as response:
                await response.read()
                statuses[response.status] += 1
        if turn % STARTS_OVER == 0:
            async with session.delete(f"{url}/api/sessions/{session_id}") as response:
                statuses[response.status] += 1
            conversation += 1
        await asyncio.sleep(PAUSE_SECONDS)


async def drive(deployed: Deployed, prefix: str, seconds: float) -> Counter[int]:
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(headers=deployed.auth(),
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(_client(session, deployed.url, prefix, index, deadline,
                                       statuses) for index in range(CLIENTS)))
    return statuses


def growth(series: list[tuple[float, int]], seconds: float) -> tuple[int, int, int]:
    """(memory at the end of the warm-up, the highest after it, the allowed margin)."""
    warm = [usage for at, usage in series if at <= seconds * WARM_UP_FRACTION]
    after = [usage for at, usage in series if at > seconds * WARM_UP_FRACTION]
    baseline = warm[-1] if warm else series[0][1]
    return baseline, max(after or [baseline]), max(int(baseline * MARGIN_FRACTION),
                                                    MARGIN_BYTES)


def state(container: Any) -> tuple[int, bool]:
    container.reload()
    return container.attrs["RestartCount"], container.attrs["State"]["OOMKilled"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("SOAK_SECONDS") or 600))
    args = parser.parse_args()
    deployed = Deployed.load(args.stack)
    if not deployed.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"refusing to load {deployed.url}: only 127.0.0.1 is a target")
    if deployed.live:
        raise SystemExit(f"refusing to soak {args.stack}: its service drives a real home "
                         "(live profile); soak dev or ci")
    client = docker.from_env()
    containers = [client.containers.get(name) for key, name in sorted(deployed.outputs.items())
                  if key.endswith("_container")]
    before = {c.name: state(c) for c in containers}
    redis_container = deployed.container_name("redis")
    keys_before = redis_keys(redis_container)
    prefix = run_prefix("soak")
    print(f"==> soak: {CLIENTS} chat clients for {args.seconds:g} s against {deployed.url}; "
          f"memory of {len(containers)} containers every {SAMPLE_SECONDS:g} s", flush=True)
    samples = Samples(containers)
    sampler = threading.Thread(target=samples.run, daemon=True)
    sampler.start()
    started = time.monotonic()
    statuses = asyncio.run(drive(deployed, prefix, args.seconds))
    elapsed = time.monotonic() - started
    samples.stop.set()
    sampler.join(timeout=30)

    failures = []
    requests = sum(statuses.values())
    bad = {status: n for status, n in statuses.items() if not 200 <= status < 300}
    print(f"requests: {requests} in {elapsed:.0f} s ({requests / elapsed:.0f}/s); "
          f"statuses {dict(sorted(statuses.items()))}")
    if bad:
        failures.append(f"non-2xx answers: {bad}")
    for container in containers:
        baseline, highest, margin = growth(samples.series[container.name], args.seconds)
        restarts, oom = state(container)
        print(f"{container.name:28} memory {baseline / 2**20:7.1f} MiB after warm-up, "
              f"highest {highest / 2**20:7.1f} MiB (allowed +{margin / 2**20:.1f}); "
              f"restarts {restarts - before[container.name][0]}, OOM-killed {oom}")
        if highest - baseline > margin:
            failures.append(f"{container.name} memory grew {(highest - baseline) / 2**20:.1f}"
                            f" MiB after the warm-up (allowed {margin / 2**20:.1f})")
        if restarts != before[container.name][0] or (oom and not before[container.name][1]):
            failures.append(f"{container.name} restarted or was OOM-killed")
    cleanup = forget_run(args.stack, redis_container, prefix, keys_before)
    print(cleanup.line())
    if cleanup.keys_after > cleanup.keys_before:
        failures.append(f"the run left {cleanup.keys_after - cleanup.keys_before} Redis "
                        "key(s) behind")
    for failure in failures:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    print("soak: passed" if not failures else f"soak: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
