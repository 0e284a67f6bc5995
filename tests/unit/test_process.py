"""`python -m lucia` as a real process: JSON logs with request ids and no secrets;
SIGTERM lets an in-flight request finish, then the process exits cleanly."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

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


def test_sigterm_drains_in_flight_request_and_logs_are_json(
        redis_server: RedisServer, llm_process: str) -> None:
    post(f"{llm_process}/sim/config", {"latency": 1.0, "scope": "chat"})
    process, base = start("lucia", ready_path="/alive", env={
        "REDIS_URL": redis_server.url, **SECRETS,
        "ConnectionStrings__chat-model":
            f"Endpoint={llm_process}/v1;AccessKey=sk-do-not-log;Model=m;Provider=openai",
        "HomeAssistant__BaseUrl": "http://127.0.0.1:9",
        "LUCIA_SHUTDOWN_TIMEOUT_SECONDS": "5",
    })
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
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    request_line = next(line for line in lines if line.get("path") == "/api/chat")
    assert request_line["requestId"] == "drain-test"
    assert request_line["status"] == 200
    for secret in (*SECRETS.values(), "sk-do-not-log"):
        assert secret not in output


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
