"""/metrics with more than one worker: prometheus-client's multiprocess mode, with two real
processes writing into one directory. Counters and histograms are summed, the storage
gauges show the newest measurement, and every series one process exposes is there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from lucia.metrics import MULTIPROCESS_ENV, Metrics

REPO = Path(__file__).resolve().parents[2]

TOUCHED = "touched"
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def touch_every_metric(metrics: Metrics) -> None:
    """A sample, labelled "touched", for every labelled metric Metrics defines, those added
    later included (one without labels has a sample from the start), so that a metric
    multiprocess mode would expose differently (a Gauge left in the default "all" mode
    gets a `pid` label per worker) fails the comparison below."""
    for metric in vars(metrics).values():
        # _labelnames: prometheus-client has no public accessor for a metric's label names.
        if not isinstance(metric, MetricWrapperBase) or not metric._labelnames:
            continue
        child = metric.labels(*(TOUCHED for _ in metric._labelnames))
        if isinstance(metric, Histogram):
            child.observe(0.1)
        elif isinstance(metric, Counter):
            child.inc()
        elif isinstance(metric, Gauge):
            child.set(1)


def exercise(metrics: Metrics, worker: int) -> None:
    """What a worker's requests do to its metrics: every metric gets a sample. `worker`
    (1 or 2) makes the storage figures differ, so the test can tell whose are shown."""
    touch_every_metric(metrics)
    metrics.http_requests.labels("POST", "/api/chat", "200").inc(3)
    metrics.http_requests.labels("GET", "unmatched", "404").inc(worker)
    metrics.http_latency.labels("POST", "/api/chat").observe(0.004)
    metrics.http_latency.labels("POST", "/api/chat").observe(0.2)
    metrics.llm_latency.labels("openai", "chat").observe(0.3)
    metrics.llm_errors.labels("openai", "chat", "timeout").inc()
    metrics.redis_errors.labels("record_turn").inc()
    metrics.routing_decisions.labels("light-agent", "skills").inc(2)
    metrics.home_assistant_errors.labels("call_service").inc()
    metrics.redis_memory_used.set(1000 * worker)
    metrics.redis_memory_max.set(10_000)
    metrics.redis_keys.labels("session").set(10 * worker)
    metrics.redis_keys.labels("task").set(20 * worker)
    for state in ("Ok", "High", "Full", "Unknown"):
        metrics.storage_state.labels(state).set(1 if state == ("Ok", "High")[worker - 1] else 0)
    metrics.storage_refusals.inc(worker)
    metrics.sessions_pruned.inc()


def series(text: str) -> Series:
    """Every sample of an exposition by name and labels (not the `_created` timestamps,
    which multiprocess mode does not keep)."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.name.endswith("_created")}


def run_worker(directory: Path, worker: int) -> None:
    """A real process in multiprocess mode: the variable is set before prometheus-client
    is imported, as lucia/workers.py does."""
    code = ("from lucia.metrics import Metrics; "
            "from tests.unit.test_metrics_multiprocess import exercise; "
            f"exercise(Metrics(), {worker})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                        MULTIPROCESS_ENV: str(directory)})


@pytest.fixture
def two_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Series:
    """The metrics two worker processes wrote, read as /metrics reads them."""
    run_worker(tmp_path, 1)
    run_worker(tmp_path, 2)  # after worker 1: its gauges are the most recent
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    monkeypatch.setenv(MULTIPROCESS_ENV, str(tmp_path))
    return series(Metrics().render().decode())


def test_counters_are_summed_across_workers(two_workers: Series) -> None:
    assert two_workers[("lucia_http_requests_total", (
        ("method", "POST"), ("route", "/api/chat"), ("status", "200")))] == 6
    assert two_workers[("lucia_http_requests_total", (
        ("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1 + 2
    assert two_workers[("lucia_storage_refusals_total", ())] == 1 + 2
    assert two_workers[("lucia_routing_decisions_total", (
        ("agent", "light-agent"), ("method", "skills")))] == 4


def test_histograms_are_summed_bucket_by_bucket(two_workers: Series) -> None:
    chat = (("method", "POST"), ("route", "/api/chat"))
    assert two_workers[("lucia_http_request_duration_seconds_count", chat)] == 4
    assert two_workers[("lucia_http_request_duration_seconds_sum", chat)] == \
        pytest.approx(2 * (0.004 + 0.2))
    assert two_workers[("lucia_http_request_duration_seconds_bucket",
                        (("le", "0.005"), *chat))] == 2
    assert two_workers[("lucia_http_request_duration_seconds_bucket",
                        (("le", "0.25"), *chat))] == 4


def test_storage_gauges_show_the_newest_measurement_not_a_sum(two_workers: Series) -> None:
    assert two_workers[("lucia_redis_memory_used_bytes", ())] == 2000
    assert two_workers[("lucia_redis_memory_max_bytes", ())] == 10_000
    assert two_workers[("lucia_redis_keys", (("kind", "session"),))] == 20
    assert two_workers[("lucia_redis_keys", (("kind", "task"),))] == 40
    states = {labels[0][1]: value for (name, labels), value in two_workers.items()
              if name == "lucia_storage_state" and labels[0][1] != TOUCHED}
    assert states == {"Ok": 0, "High": 1, "Full": 0, "Unknown": 0}


def test_every_series_of_one_process_is_exposed_by_two(two_workers: Series,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROCESS_ENV)
    single = Metrics()  # this test process: prometheus-client's single-process mode
    exercise(single, 1)
    assert set(two_workers) == set(series(single.render().decode()))
