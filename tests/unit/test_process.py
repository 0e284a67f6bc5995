"""`python -m lucia` as a real process, with one worker and with two: JSON logs with request
ids and no secrets; SIGTERM lets in-flight requests finish in every worker, each worker
closes its connections, then the process exits cleanly; metrics are summed across the
workers; a worker that dies is replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lucia_deploy.waiting import wait_until
from tests.support.processes import start
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow

SECRETS = {"LUCIA_API_KEY": "api-key-do-not-log", "HOMEASSISTANT_ACCESS_TOKEN":
           "ha-token-do-not-log"}


@pytest.fixture
def llm_process() -> Iterator[str]:
    process, base = start("lucia_sims.openai_compatible", ready_path="/v1/models")
    yield base
    process.terminate()
    process.communicate(timeout=10)


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None,
         timeout: float = 10) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def lucia_env(redis_server: RedisServer, llm: str, **extra: str) -> dict[str, str]:
    return {"REDIS_URL": redis_server.url, **SECRETS,
            "ConnectionStrings__chat-model":
                f"Endpoint={llm}/v1;AccessKey=sk-do-not-log;Model=m;Provider=openai",
            "HomeAssistant__BaseUrl": "http://127.0.0.1:9",
            "LUCIA_SHUTDOWN_TIMEOUT_SECONDS": "5", **extra}


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def workers_of(pid: int) -> set[int]:
    """The live child processes of `pid`: an arbiter's workers."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:  # gone meanwhile
            continue
        if int(parent) == pid and state != "Z":
            found.add(int(stat.parent.name))
    return found


def both_workers(process: subprocess.Popen[str]) -> set[int]:
    """The two workers, once the arbiter has forked both (it answers after the first)."""
    def two() -> set[int] | None:
        found = workers_of(process.pid)
        return found if len(found) == 2 else None
    return wait_until(two, 15, "two workers")[0]


def chat(base: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """One turn on a connection of its own, so the kernel may hand it to any worker."""
    return post(f"{base}/api/chat", {"message": "tell me something"},
                {"X-Api-Key": SECRETS["LUCIA_API_KEY"], "X-Request-Id": request_id})


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_in_flight_request_and_logs_are_json(
        redis_server: RedisServer, llm_process: str, workers: str) -> None:
    post(f"{llm_process}/sim/config", {"latency": 1.0, "scope": "chat"})
    process, base = start("lucia", ready_path="/alive", env=lucia_env(
        redis_server, llm_process, LUCIA_WORKERS=workers))
    outcome: dict[str, Any] = {}

    def slow_chat() -> None:
        outcome["reply"] = post(f"{base}/api/chat", {"message": "tell me something"},
                                {"X-Api-Key": SECRETS["LUCIA_API_KEY"],
                                 "X-Request-Id": "drain-test"})

    worker = threading.Thread(target=slow_chat)
    worker.start()
    time.sleep(0.4)  # the request is now waiting on the simulated model
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    worker.join(timeout=10)
    output = process.communicate(timeout=10)[0]
    stop_seconds = time.monotonic() - started
    code = process.returncode

    assert outcome["reply"][0] == 200
    assert outcome["reply"][1]["response"].startswith("(simulated model)")
    assert code == 0
    assert stop_seconds < 5, f"shutdown took {stop_seconds:.2f} s"
    lines = json_lines(output)
    assert lines, output
    assert lines[0]["message"] == "starting"
    assert lines[0]["workers"] == int(workers)
    request_line = next(line for line in lines if line.get("path") == "/api/chat")
    assert request_line["requestId"] == "drain-test"
    assert request_line["status"] == 200
    for secret in (*SECRETS.values(), "sk-do-not-log"):
        assert secret not in output


def write_stale_metrics(directory: Path) -> None:
    """What a previous run would have left: a worker's counter file, 1000 chats."""
    code = ("from lucia.metrics import Metrics; "
            "Metrics().http_requests.labels('POST', '/api/chat', '200').inc(1000)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert list(directory.glob("counter_*.db"))


def chat_count(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    line = next(line for line in text.splitlines() if line.startswith(
        'lucia_http_requests_total{method="POST",route="/api/chat",status="200"}'))
    return float(line.rsplit(" ", 1)[1])


def test_two_workers_sum_their_metrics_and_all_drain_on_sigterm(
        redis_server: RedisServer, llm_process: str, tmp_path: Path) -> None:
    """Two workers on one port: /metrics (whichever worker answers) counts every turn of
    both, from a directory emptied of an earlier run's files; SIGTERM with turns in
    flight on both workers lets every one finish, each worker runs its cleanup, and the
    process exits 0."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    write_stale_metrics(metrics_dir)
    post(f"{llm_process}/sim/config", {"latency": 0.0, "scope": "chat"})
    process, base = start("lucia", ready_path="/alive", env=lucia_env(
        redis_server, llm_process, LUCIA_WORKERS="2", LUCIA_METRICS_DIR=str(metrics_dir)))
    try:
        both_workers(process)
        quick = 20
        for index in range(quick):
            assert chat(base, f"quick-{index}")[0] == 200
        assert chat_count(base) == quick  # summed over both workers, nothing stale
        assert len(list(metrics_dir.glob("counter_*.db"))) == 2

        post(f"{llm_process}/sim/config", {"latency": 1.0, "scope": "chat"})
        # 16 turns, each on its own connection: all on one worker has odds of 2 in 65,536.
        replies: dict[int, tuple[int, dict[str, Any]]] = {}

        def slow_chat(index: int) -> None:
            replies[index] = chat(base, f"slow-{index}")

        threads = [threading.Thread(target=slow_chat, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        time.sleep(0.4)  # every turn is now waiting on the simulated model
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=10)
        output = process.communicate(timeout=10)[0]
        stop_seconds = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert sorted(status for status, _ in replies.values()) == [200] * 16, output
    assert process.returncode == 0, output
    assert stop_seconds < 5, f"shutdown took {stop_seconds:.2f} s"
    lines = json_lines(output)
    slow = {line["pid"] for line in lines
            if str(line.get("requestId", "")).startswith("slow-") and line.get("status")}
    assert len(slow) == 2, f"the in-flight turns were served by {slow}, not two workers"
    stopped = [line for line in lines if line["message"].startswith("worker stopped")]
    assert {line["pid"] for line in stopped} == slow
    signalled = next(line["timestamp"] for line in lines if "signal: term" in line["message"])
    assert all(line["timestamp"] >= signalled for line in stopped)
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], output


def test_a_worker_that_dies_is_replaced(redis_server: RedisServer, llm_process: str) -> None:
    process, base = start("lucia", ready_path="/alive", env=lucia_env(
        redis_server, llm_process, LUCIA_WORKERS="2"))
    try:
        before = both_workers(process)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)  # as the kernel's OOM killer would

        def replaced() -> set[int] | None:
            found = workers_of(process.pid)
            return found if len(found) == 2 and found != before else None

        after = wait_until(replaced, 15, "a replacement worker")[0]
        assert victim not in after
        for index in range(6):
            assert chat(base, f"after-{index}")[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=15)[0]
    assert process.returncode == 0, output
    died = [line for line in json_lines(output) if line["level"] == "ERROR"]
    assert [line["message"] for line in died] == [
        f"Worker (pid:{victim}) was sent SIGKILL! Perhaps out of memory?"]


def test_a_clients_malformed_http_is_a_warning_not_an_error() -> None:
    """aiohttp logs an unparseable request (here a NUL in a header, as schemathesis's
    probe sends) at ERROR though it answers 400; lucia logs it as a WARNING."""
    import logging
    import sys

    from aiohttp.http_exceptions import BadHttpMessage

    from lucia.logs import ClientGarbageFilter

    try:
        raise BadHttpMessage("Invalid header value char")
    except BadHttpMessage:
        record = logging.LogRecord("aiohttp.server", logging.ERROR, "", 0,
                                   "Error handling request from %s", ("172.18.0.1",),
                                   sys.exc_info())
    assert ClientGarbageFilter().filter(record)
    assert (record.levelno, record.levelname) == (logging.WARNING, "WARNING")
    assert record.getMessage() == ("malformed HTTP request, answered 400: Error handling "
                                   "request from 172.18.0.1")
    server_fault = logging.LogRecord("aiohttp.server", logging.ERROR, "", 0, "boom", None,
                                     (RuntimeError, RuntimeError("x"), None))
    ClientGarbageFilter().filter(server_fault)
    assert server_fault.levelname == "ERROR"
