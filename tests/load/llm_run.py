"""`make load-llm STACK=<name>`: load shaped like a real LLM (tests/load/llm_locustfile.py).

The stack's LLM simulator is set to answer in `ttft + token_delay x (reply_tokens - 1)`
seconds, streamed (1.5 s in thresholds.toml), and `users` conversations stream turns back
to back for `run_time`. With the simulator's latency L, Little's law bounds the throughput
at users / L turns per second: what the service adds is what it loses from that bound,
and what it adds to each turn's latency. Printed and enforced ([<stack>.llm]):

- throughput / bound >= min_littles_fraction;
- service overhead: p99 of a whole turn (to its `done` event) minus L <= max_overhead_ms;
- time to first token: p99 minus ttft <= max_ttft_overhead_ms;
- no failed turn; the service container's memory under max_service_memory_mb.

In the same run, before the service, the same locust persona drives a bare reference
(tests/load/bare.py `llm`: a minimal aiohttp SSE relay of the same simulator through the
same openai SDK, as a host process) with the same users for the same time. Its overhead
over the simulator is what the relay, the SDK and the load driver (locust, sharing the
machine's cores) cost; the service's overhead over the reference is the service's own.
Both are printed; the limits apply to the service, as before. `--no-reference` skips it.

Only the stack's own containers on 127.0.0.1 (and the reference, a host process on
127.0.0.1) are targets, and only stacks that run the simulator (the full profile). The
simulator is reset and the run's sessions deleted at the end, whatever happened."""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import psutil

from tests.load.thresholds import load_thresholds
from tests.support.deployed import Deployed
from tests.support.processes import start
from tests.support.run_sessions import forget_run, redis_keys, run_prefix

WHOLE_TURN = "whole turn (to done)"  # llm_locustfile.WHOLE_TURN (locust is not imported here)

REPO = Path(__file__).resolve().parents[2]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def sim_config(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{url}/sim/{'reset' if body == {} else 'config'}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def service_memory_mb(deployed: Deployed) -> float:
    container = docker.from_env().containers.get(deployed.container_name("service"))
    stats = container.stats(stream=False)["memory_stats"]
    usage = stats.get("usage", 0) - stats.get("stats", {}).get("inactive_file", 0)
    return float(usage) / 2**20


@dataclass(frozen=True)
class Outcome:
    """One locust run of the persona: its CSV rows and every completed turn's times."""

    rows: dict[str, dict[str, str]]
    whole: list[float]
    first: list[float]
    returncode: int
    cpu: dict[str, float]  # CPU seconds during the run: locust, the target, the simulator

    @property
    def failures(self) -> int:
        return int(self.rows.get("Aggregated", {}).get("Failure Count", "0") or 0)

    @property
    def rate(self) -> float:
        return float(self.rows.get(WHOLE_TURN, {}).get("Requests/s", "0") or 0)

    def p(self, values: list[float], fraction: float) -> float:
        return percentile(values, fraction) if values else float("nan")


def container_cpu(name: str) -> float:
    """CPU seconds a container has used (its cgroup's total)."""
    stats = docker.from_env().containers.get(name).stats(stream=False)
    return float(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9


def process_cpu(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.cpu_times().user + p.cpu_times().system
               for p in (process, *process.children(recursive=True)))


def run_locust(host: str, prefix: Path, limits: dict[str, Any], env: dict[str, str],
               target: Callable[[], float], simulator: Callable[[], float]) -> Outcome:
    """One run of the persona against `host`; `target` and `simulator` read the CPU
    seconds of what serves it and of the simulator, so each turn's CPU can be told."""
    timings = Path(f"{prefix}-timings.json")
    timings.unlink(missing_ok=True)
    before = (resource.getrusage(resource.RUSAGE_CHILDREN), target(), simulator())
    locust = subprocess.run(
        [sys.executable, "-m", "locust", "-f",
         str(REPO / "tests" / "load" / "llm_locustfile.py"), "--headless", "--host",
         host, "-u", str(limits["users"]), "-r", str(limits["spawn_rate"]),
         "-t", limits["run_time"], "--csv", str(prefix), "--only-summary",
         "--stop-timeout", "10"], cwd=REPO, env={**env, "LUCIA_LLM_TIMINGS": str(timings)},
        check=False)
    after = (resource.getrusage(resource.RUSAGE_CHILDREN), target(), simulator())
    cpu = {"locust": (after[0].ru_utime + after[0].ru_stime)
           - (before[0].ru_utime + before[0].ru_stime),
           "target": after[1] - before[1], "simulator": after[2] - before[2]}
    rows: dict[str, dict[str, str]] = {}
    if Path(f"{prefix}_stats.csv").exists():
        with open(f"{prefix}_stats.csv") as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}
    seconds = json.loads(timings.read_text()) if timings.exists() else {"first": [],
                                                                           "whole": []}
    return Outcome(rows, seconds["whole"], seconds["first"], locust.returncode, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the bare SSE relay measured before the service")
    args = parser.parse_args()
    deployed = Deployed.load(args.stack)
    if not deployed.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"refusing to load {deployed.url}: only 127.0.0.1 is a target")
    sim = deployed.outputs.get("sim_llm_url")
    if deployed.live or not sim:
        raise SystemExit(f"{args.stack} runs no LLM simulator of its own (live profile): "
                         "LLM-shaped load needs one; use dev or ci")
    if not sim.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"refusing to use the simulator at {sim}: only 127.0.0.1")
    limits = load_thresholds(args.stack).get("llm")
    if limits is None:
        raise SystemExit(f"tests/load/thresholds.toml has no [{args.stack}.llm] section")
    latency = limits["ttft"] + limits["token_delay"] * (limits["reply_tokens"] - 1)
    bound = limits["users"] / latency
    out = REPO / "reports" / "load"
    out.mkdir(parents=True, exist_ok=True)
    redis_container = deployed.container_name("redis")
    keys_before = redis_keys(redis_container)
    sessions = run_prefix("llm")
    print(f"==> LLM-shaped load: {limits['users']} streamed conversations for "
          f"{limits['run_time']}; the simulator answers in {latency:.2f} s (first token "
          f"{limits['ttft']:.2f} s), so Little's bound is {bound:.0f} turns/s", flush=True)
    sim_config(sim, {"ttft": limits["ttft"], "token_delay": limits["token_delay"],
                     "reply_tokens": limits["reply_tokens"], "scope": "chat"})
    env = {**os.environ, "LUCIA_KEY": deployed.api_key, "LUCIA_RUN_PREFIX": sessions,
           "PYTHONPATH": str(REPO)}
    reference: Outcome | None = None

    def sim_cpu() -> float:
        return container_cpu(deployed.container_name("sim_llm"))

    try:
        if not args.no_reference:
            print("==> the bare reference first: a minimal SSE relay of the same simulator "
                  "through the same SDK (tests/load/bare.py llm), same persona", flush=True)
            relay, relay_url = start("tests.load.bare", "llm", "--llm-url", f"{sim}/v1",
                                     ready_path="/alive")
            try:
                reference = run_locust(relay_url, out / f"{args.stack}-llm-reference",
                                       limits, {**env, "LUCIA_KEY": ""},
                                       lambda: process_cpu(relay.pid), sim_cpu)
            finally:
                relay.terminate()
                relay.communicate(timeout=10)
            print("==> the service", flush=True)
        service = run_locust(deployed.url, out / f"{args.stack}-llm", limits, env,
                             lambda: container_cpu(deployed.container_name("service")),
                             sim_cpu)
        memory = service_memory_mb(deployed)
    finally:
        sim_config(sim, {})
        cleanup = forget_run(args.stack, redis_container, sessions, keys_before)
    problems = [] if service.whole else ["no turn completed"]
    print(cleanup.line())
    if service.whole:
        floor = bound * limits["min_littles_fraction"]
        overhead = (service.p(service.whole, 0.99) - latency) * 1000
        ttft = (service.p(service.first, 0.99) - limits["ttft"]) * 1000
        ref = reference if reference is not None and reference.whole else None

        def beside(value: str, ref_value: str) -> str:
            return f"{value:>12} {ref_value if ref else '':>12}"

        print(f"{'measure':44} {'service':>12} {'reference':>12} {'limit':>12}")
        for name, value, ref_value, limit, ok in (
            ("turns/s (whole turns)", f"{service.rate:.1f}",
             f"{ref.rate:.1f}" if ref else "", f">= {floor:.1f}", service.rate >= floor),
            ("  of Little's bound", f"{service.rate / bound:.0%}",
             f"{ref.rate / bound:.0%}" if ref else "",
             f">= {limits['min_littles_fraction']:.0%}", True),
            ("whole turn p50 / p99 (s)",
             f"{service.p(service.whole, 0.5):.3f} / {service.p(service.whole, 0.99):.3f}",
             f"{ref.p(ref.whole, 0.5):.3f} / {ref.p(ref.whole, 0.99):.3f}" if ref else "",
             "", True),
            ("overhead over the simulator, p99 (ms)", f"{overhead:.1f}",
             f"{(ref.p(ref.whole, 0.99) - latency) * 1000:.1f}" if ref else "",
             f"<= {limits['max_overhead_ms']}", overhead <= limits["max_overhead_ms"]),
            ("first token p99 - ttft (ms)", f"{ttft:.1f}",
             f"{(ref.p(ref.first, 0.99) - limits['ttft']) * 1000:.1f}" if ref else "",
             f"<= {limits['max_ttft_overhead_ms']}", ttft <= limits["max_ttft_overhead_ms"]),
            ("failed requests", str(service.failures), str(ref.failures) if ref else "",
             "0", service.failures == 0),
            ("service memory after the run (MiB)", f"{memory:.0f}", "",
             f"< {limits['max_service_memory_mb']}", memory < limits["max_service_memory_mb"]),
        ):
            print(f"{name:44} {beside(value, ref_value)} {limit:>12}"
                  f"{'' if ok else '   MISSED'}")
            if not ok:
                problems.append(f"{name}: {value} (limit {limit})")
        if ref:
            print(f"{'the service over the reference':44} (informational: the service's own "
                  "cost, the relay's and the driver's taken out)")
            for name, kind, fraction in (("whole turn p50", "whole", 0.5),
                                         ("whole turn p99", "whole", 0.99),
                                         ("first token p50", "first", 0.5),
                                         ("first token p99", "first", 0.99)):
                extra = service.p(getattr(service, kind), fraction) \
                    - ref.p(getattr(ref, kind), fraction)
                print(f"  {name + ' (ms)':42} {extra * 1000:>12.1f}")
            print(f"  {'turns/s, service / reference':42} {service.rate / ref.rate:>12.0%}")
        runs = (("service", service), ("reference", ref)) if ref else (("service", service),)
        print("CPU per completed turn (ms; the machine has "
              f"{os.cpu_count()} cores for all of it):")
        for label, run in runs:
            turns = max(1, len(run.whole))
            print(f"  {label:10} locust {run.cpu['locust'] / turns * 1000:6.2f}   "
                  f"{'service container' if label == 'service' else 'bare relay'} "
                  f"{run.cpu['target'] / turns * 1000:6.2f}   simulator container "
                  f"{run.cpu['simulator'] / turns * 1000:6.2f}")
    if cleanup.keys_after > cleanup.keys_before:
        problems.append(f"the run left {cleanup.keys_after - cleanup.keys_before} Redis keys")
    for problem in problems:
        print(f"load-llm: FAILED: {problem}", file=sys.stderr)
    return 1 if problems or service.returncode not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
