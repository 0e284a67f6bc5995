"""Thresholds per stack from thresholds.toml, and the check the locustfile runs at quit."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("thresholds.toml")


def load_thresholds(stack: str) -> dict[str, Any]:
    """The stack's section; LUCIA_THRESHOLDS names another file (to try stricter limits)."""
    path = Path(os.environ.get("LUCIA_THRESHOLDS") or FILE)
    table = tomllib.loads(path.read_text())
    if stack not in table:
        raise SystemExit(f"{path} has no [{stack}] section")
    return table[stack]


def check_thresholds(stats: Any, limits: dict[str, Any]) -> list[str]:
    """Every threshold the run missed, in words."""
    problems = []
    total = stats.total
    if total.num_requests == 0:
        return ["no requests were made"]
    ratio = total.num_failures / total.num_requests
    if ratio > limits["failure_ratio"]:
        problems.append(f"failure ratio {ratio:.4f} > {limits['failure_ratio']}")
    if total.total_rps < limits["min_rps"]:
        problems.append(f"throughput {total.total_rps:.1f} req/s < {limits['min_rps']}")
    for percentile in ("p95", "p99"):
        bounds = limits.get(percentile, {})
        for (name, _method), entry in stats.entries.items():
            bound = bounds.get(name, bounds.get("*"))
            if bound is None or entry.num_requests == 0:
                continue
            value = entry.get_response_time_percentile(int(percentile[1:]) / 100)
            if value > bound:
                problems.append(f"{name} {percentile} {value:.0f} ms > {bound} ms")
    return problems
