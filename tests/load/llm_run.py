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

Only the stack's own containers on 127.0.0.1 are targets, and only stacks that run the
simulator (the full profile). The simulator is reset and the run's sessions deleted at the
end, whatever happened."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import docker

from tests.load.thresholds import load_thresholds
from tests.support.deployed import Deployed
from tests.support.run_sessions import forget_run, redis_keys, run_prefix

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    args = parser.parse_args()
    deployed = Deployed.load(args.stack)
    if not deployed.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"refusing to load {deployed.url}: only 127.0.0.1 is a target")
    sim = deployed.outputs.get("sim_llm_url")
    if deployed.live or not sim:
        raise SystemExit(f"{args.stack} runs no LLM simulator of its own (live profile): "
                         "LLM-shaped load needs one; use dev or ci")
    limits = load_thresholds(args.stack).get("llm")
    if limits is None:
        raise SystemExit(f"tests/load/thresholds.toml has no [{args.stack}.llm] section")
    latency = limits["ttft"] + limits["token_delay"] * (limits["reply_tokens"] - 1)
    bound = limits["users"] / latency
    out = REPO / "reports" / "load"
    out.mkdir(parents=True, exist_ok=True)
    prefix, timings = out / f"{args.stack}-llm", out / f"{args.stack}-llm-timings.json"
    timings.unlink(missing_ok=True)
    redis_container = deployed.container_name("redis")
    keys_before = redis_keys(redis_container)
    sessions = run_prefix("llm")
    print(f"==> LLM-shaped load: {limits['users']} streamed conversations for "
          f"{limits['run_time']}; the simulator answers in {latency:.2f} s (first token "
          f"{limits['ttft']:.2f} s), so Little's bound is {bound:.0f} turns/s", flush=True)
    sim_config(sim, {"ttft": limits["ttft"], "token_delay": limits["token_delay"],
                     "reply_tokens": limits["reply_tokens"], "scope": "chat"})
    try:
        env = {**os.environ, "LUCIA_KEY": deployed.api_key, "LUCIA_RUN_PREFIX": sessions,
               "LUCIA_LLM_TIMINGS": str(timings), "PYTHONPATH": str(REPO)}
        locust = subprocess.run(
            [sys.executable, "-m", "locust", "-f",
             str(REPO / "tests" / "load" / "llm_locustfile.py"), "--headless", "--host",
             deployed.url, "-u", str(limits["users"]), "-r", str(limits["spawn_rate"]),
             "-t", limits["run_time"], "--csv", str(prefix), "--only-summary",
             "--stop-timeout", "10"], cwd=REPO, env=env, check=False)
        memory = service_memory_mb(deployed)
    finally:
        sim_config(sim, {})
        cleanup = forget_run(args.stack, redis_container, sessions, keys_before)
    with open(f"{prefix}_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    seconds = json.loads(timings.read_text()) if timings.exists() else {"first": [],
                                                                           "whole": []}
    failures = int(rows.get("Aggregated", {}).get("Failure Count", "0") or 0)
    whole, first = seconds["whole"], seconds["first"]
    problems = [] if whole else ["no turn completed"]
    print(cleanup.line())
    if whole:
        rate = float(rows["whole turn (to done)"]["Requests/s"])
        overhead = (percentile(whole, 0.99) - latency) * 1000
        ttft = (percentile(first, 0.99) - limits["ttft"]) * 1000
        floor = bound * limits["min_littles_fraction"]
        print(f"{'measure':44} {'value':>12} {'limit':>12}")
        for name, value, limit, ok in (
            ("turns/s (whole turns)", f"{rate:.1f}", f">= {floor:.1f}", rate >= floor),
            ("  of Little's bound", f"{rate / bound:.0%}",
             f">= {limits['min_littles_fraction']:.0%}", True),
            ("whole turn p50 / p99 (s)", f"{percentile(whole, 0.5):.3f} / "
             f"{percentile(whole, 0.99):.3f}", "", True),
            ("service overhead, p99 - latency (ms)", f"{overhead:.1f}",
             f"<= {limits['max_overhead_ms']}", overhead <= limits["max_overhead_ms"]),
            ("first token p99 - ttft (ms)", f"{ttft:.1f}",
             f"<= {limits['max_ttft_overhead_ms']}", ttft <= limits["max_ttft_overhead_ms"]),
            ("failed requests", str(failures), "0", failures == 0),
            ("service memory after the run (MiB)", f"{memory:.0f}",
             f"< {limits['max_service_memory_mb']}", memory < limits["max_service_memory_mb"]),
        ):
            print(f"{name:44} {value:>12} {limit:>12}{'' if ok else '   MISSED'}")
            if not ok:
                problems.append(f"{name}: {value} (limit {limit})")
    if cleanup.keys_after > cleanup.keys_before:
        problems.append(f"the run left {cleanup.keys_after - cleanup.keys_before} Redis keys")
    for problem in problems:
        print(f"load-llm: FAILED: {problem}", file=sys.stderr)
    return 1 if problems or locust.returncode not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
