"""A small closed-loop HTTP load driver for `make bench`: N concurrent clients for a fixed
time against one URL, reporting requests/s and latency percentiles. The same driver runs
against every target in a bench, so the ratios compare like with like.

Targets are 127.0.0.1 (or localhost) and, when the caller names a deployed stack, that
stack's own containers at their addresses on its network (read from Docker, never given
by the caller): nothing else."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import docker

from tests.support.deployed import Deployed
from tests.support.run_sessions import run_prefix

# The sessions one bench run opens (its chat clients' included); bench.py deletes them.
SESSIONS = run_prefix("bench")


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(len(sorted_values) * fraction))
    return sorted_values[index]


async def _drive(method: str, url: str, concurrency: int, seconds: float,
                 body: Any, headers: dict[str, str]) -> Measurement:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def client(index: int) -> None:
            nonlocal errors
            session_id = f"{SESSIONS}{index}-{uuid.uuid4().hex[:6]}"
            while time.perf_counter() < deadline:
                payload = body(session_id) if callable(body) else body
                started = time.perf_counter()
                async with session.request(method, url, json=payload) as response:
                    await response.read()
                    if response.status >= 400:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Measurement(len(latencies) / elapsed, percentile(latencies, 0.5) * 1000,
                       percentile(latencies, 0.99) * 1000, errors, len(latencies))


LOOPBACK = frozenset({"127.0.0.1", "localhost"})


def stack_addresses(deployed: Deployed) -> dict[str, str]:
    """The stack's own containers (its `*_container` outputs) and their addresses on the
    stack's network, as Docker reports them: container name -> IP."""
    client = docker.from_env()
    network = deployed.outputs["network"]
    addresses = {}
    for key, name in deployed.outputs.items():
        if not key.endswith("_container"):
            continue
        container = client.containers.get(name)
        found = container.attrs["NetworkSettings"]["Networks"].get(network, {})
        if found.get("IPAddress"):
            addresses[name] = found["IPAddress"]
    return addresses


def allowed_hosts(deployed: Deployed | None) -> frozenset[str]:
    return LOOPBACK | frozenset(stack_addresses(deployed).values() if deployed else ())


def drive(method: str, url: str, *, concurrency: int = 20, seconds: float = 8,
          body: Any = None, headers: dict[str, str] | None = None,
          stack: Deployed | None = None) -> Measurement:
    """Load `url`: 127.0.0.1, or with `stack` also one of that stack's containers."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.port is None \
            or parts.hostname not in allowed_hosts(stack):
        where = f"127.0.0.1 and the containers of stack {stack.stack}" if stack \
            else "127.0.0.1"
        raise SystemExit(f"refusing to load {url}: only {where} are targets")
    # A short warm-up so connection setup is not measured.
    asyncio.run(_drive(method, url, min(concurrency, 4), 1, body, headers or {}))
    return asyncio.run(_drive(method, url, concurrency, seconds, body, headers or {}))
