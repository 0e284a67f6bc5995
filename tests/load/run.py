"""`make load STACK=<name>`: headless locust against the stack's 127.0.0.1 URL, bounded in
users and time (thresholds.toml), CSV and HTML reports under reports/load/, a summary
table, and a non-zero exit when a threshold is missed."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

from tests.load.thresholds import load_thresholds
from tests.support.deployed import Deployed
from tests.support.run_sessions import forget_run, redis_keys, run_prefix

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("--users", type=int)
    parser.add_argument("--run-time")
    args = parser.parse_args()
    deployed = Deployed.load(args.stack)
    if not deployed.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"refusing to load {deployed.url}: only 127.0.0.1 is a target")
    limits = load_thresholds(args.stack)
    users = args.users or limits["users"]
    run_time = args.run_time or limits["run_time"]
    out = REPO / "reports" / "load"
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / args.stack
    print(f"==> locust: {users} users for {run_time} against {deployed.url}", flush=True)
    redis_container = deployed.container_name("redis")
    keys_before = redis_keys(redis_container)
    sessions = run_prefix("load")
    # A marked request before the run: its log line must still be in `docker logs` after
    # it, so log rotation keeps at least a whole load run (the 502s of a failing run must
    # be readable afterwards).
    marker = f"{sessions}start"
    # Not a probe: probes that answer well are logged only at DEBUG.
    deployed.call("GET", "/api/agents", headers={"X-Request-Id": marker})
    env = {**os.environ, "LUCIA_STACK": args.stack, "LUCIA_KEY": deployed.api_key,
           "LUCIA_RUN_PREFIX": sessions, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO / "tests" / "load" / "locustfile.py"),
         "--headless", "--host", deployed.url, "-u", str(users),
         "-r", str(limits["spawn_rate"]), "-t", run_time, "--csv", str(prefix),
         "--html", f"{prefix}.html", "--only-summary", "--stop-timeout", "10"],
        cwd=REPO, env=env, check=False)
    with open(f"{prefix}_stats.csv") as handle:
        rows = list(csv.DictReader(handle))
    print(f"\n{'request':32} {'count':>7} {'fail':>5} {'rps':>7} {'p50':>6} {'p95':>6} "
          f"{'p99':>6}")
    for row in rows:
        print(f"{row['Name'][:32]:32} {row['Request Count']:>7} {row['Failure Count']:>5} "
              f"{float(row['Requests/s']):7.1f} {row['50%']:>6} {row['95%']:>6} "
              f"{row['99%']:>6}")
    print(f"reports: {prefix}_stats.csv, {prefix}.html")
    # Clean up first, whatever else failed: a failing run must not fill the stack either.
    cleanup = forget_run(args.stack, redis_container, sessions, keys_before)
    print(cleanup.line())
    failures = []
    if cleanup.keys_after > cleanup.keys_before:
        failures.append(f"the run left {cleanup.keys_after - cleanup.keys_before} Redis "
                        "key(s) behind")
    # Every service container's log (a swarm stack's marker went to one of its replicas).
    text = ""
    for name in deployed.containers("service"):
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True,
                              check=False)
        text += logs.stdout + logs.stderr
    lines = text.count("\n")
    if f'"requestId": "{marker}"' in text:
        print(f"logs: the whole run is in `docker logs` ({lines} lines kept)")
    else:
        failures.append(f"the service log no longer holds the run's first request ({lines} "
                        "lines kept): raise logMaxSizeMb/logMaxFiles or lower logLevel")
    for failure in failures:
        print(f"load: FAILED: {failure}", file=sys.stderr)
    return result.returncode or (1 if failures else 0)

if __name__ == "__main__":
    raise SystemExit(main())
