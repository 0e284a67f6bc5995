"""Redis fills up on the deployed stack (docs/capacity.md): with a small maxmemory set for
the test, real chat turns fill it. /health goes Degraded at the watermark and Unhealthy
when full; new sessions are refused with storage_full and Retry-After while existing ones
continue; no acknowledged turn is lost; and once space is freed the service accepts new
sessions again by itself. maxmemory is restored and every session it made is deleted."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from lucia_deploy import waiting
from tests.support.deployed import Deployed

HEADROOM = 3 * 1024 * 1024  # maxmemory for the test: what is used now plus this
BIG = "x" * 3500  # a long message: each turn stores it in the history and in the task


def redis_cli(container: Any, *args: str) -> str:
    result = container.exec_run(["redis-cli", *args])  # REDISCLI_AUTH is in its env
    output = result.output.decode().strip()
    assert result.exit_code == 0, output
    assert not output.startswith("ERR"), output
    return output


def memory(container: Any) -> dict[str, int]:
    info = dict(line.split(":", 1) for line in redis_cli(container, "INFO", "memory")
                .splitlines() if ":" in line)
    return {"used": int(info["used_memory"]), "max": int(info["maxmemory"])}


def chat(deployed: Deployed, message: str, session_id: str
         ) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A turn, with the response headers (Retry-After)."""
    request = urllib.request.Request(
        f"{deployed.url}/api/chat", method="POST",
        data=json.dumps({"message": message, "sessionId": session_id}).encode(),
        headers={"Content-Type": "application/json", **deployed.turn_headers()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def health(deployed: Deployed) -> tuple[int, dict[str, Any]]:
    return deployed.call("GET", "/health", auth=False)


def health_when(deployed: Deployed, storage: str, what: str) -> tuple[int, dict[str, Any]]:
    """The first /health answer whose storage state is `storage`. Each worker process
    measures storage at most once per check period (1 s), so within it two calls may be
    answered from different moments: judge the answer that showed the change."""
    def answered() -> tuple[int, dict[str, Any]] | None:
        code, body = health(deployed)
        return (code, body) if body["services"]["storage"] == storage else None
    try:
        return waiting.wait_until(answered, 10, f"/health {storage} {what}",
                                  interval=0.1, ignore=(OSError,))[0]
    except waiting.WaitTimeout as exc:
        raise AssertionError(str(exc)) from None


@pytest.fixture
def small_redis(deployed: Deployed, engine: docker.DockerClient) -> Iterator[Any]:
    container = engine.containers.get(deployed.container_name("redis"))
    original = redis_cli(container, "CONFIG", "GET", "maxmemory").splitlines()[1]
    before = memory(container)
    redis_cli(container, "CONFIG", "SET", "maxmemory", str(before["used"] + HEADROOM))
    try:
        yield container
    finally:
        redis_cli(container, "CONFIG", "SET", "maxmemory", original)


def test_redis_fills_up_degrades_gracefully_and_recovers(deployed: Deployed,
                                                         small_redis: Any) -> None:
    run = f"lucia-run-fill-{uuid.uuid4().hex[:6]}"
    keep = f"{run}-keep"
    acknowledged: dict[str, int] = {}  # session -> acknowledged turns

    def turn(session_id: str, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        status, body, headers = chat(deployed, message, session_id)
        if status == 200:
            acknowledged[session_id] = acknowledged.get(session_id, 0) + 1
        return status, body, headers

    assert turn(keep, "my name is Alice")[0] == 200
    started = time.monotonic()
    # Fill with new sessions until the service refuses one: the watermark.
    refused = None
    for index in range(2000):
        status, body, headers = turn(f"{run}-{index}", f"{index} {BIG}")
        if status != 200:
            refused = (status, body, headers)
            break
    assert refused is not None, "2000 new sessions and never refused"
    status, body, headers = refused
    assert (status, body["error"]["code"]) == (503, "storage_full"), refused
    assert int(headers["Retry-After"]) > 0
    fill_seconds = time.monotonic() - started
    at_refusal = memory(small_redis)

    status, report = health_when(deployed, "High", "at the watermark")
    assert (status, report["status"]) == (200, "Degraded")
    assert any(reason.startswith("storage:") for reason in report["reasons"]), report

    # Existing sessions continue: the room above the watermark is theirs.
    status, reply, _ = turn(keep, "what is my name?")
    assert status == 200, reply
    assert "Alice" in reply["response"]

    # Keep the existing sessions talking until Redis itself is full.
    sessions = [s for s in acknowledged if s != keep]
    full = None
    for index in range(5000):
        session_id = sessions[index % len(sessions)]
        before = acknowledged.get(session_id, 0)
        status, body, _ = turn(session_id, f"more {index} {BIG}")
        if status != 200:
            full = (session_id, before, status, body)
            break
    assert full is not None, "5000 turns and Redis never filled"
    session_id, before, status, body = full
    assert (status, body["error"]["code"]) == (503, "storage_full"), full
    status, report = health_when(deployed, "Full", "once Redis refused a write")
    assert (status, report["status"]) == (503, "Unhealthy"), report

    # No acknowledged turn is lost, and the refused one left nothing behind.
    for sid, turns in acknowledged.items():
        status, session = deployed.call("GET", f"/api/sessions/{sid}")
        assert status == 200, (sid, session)
        assert len(session["history"]) == min(2 * turns, 50), (sid, turns)

    # Free space the way a client would: delete the filler sessions. No restart.
    freed_at = time.monotonic()
    deleted = deployed.forget(set(sessions))
    recovered = deployed.wait_until(
        lambda: turn(f"{run}-after", "hello again")[0] == 200, 15,
        "a new session accepted after space was freed")
    status, report = health_when(deployed, "Ok", "after space was freed")
    assert (status, report["status"]) == (200, "Healthy"), report
    deployed.forget({keep, f"{run}-after"})
    print(f"\nRedis fill (maxmemory {at_refusal['max'] / 1e6:.1f} MB): new sessions refused "
          f"after {len(sessions)} sessions in {fill_seconds:.1f} s at "
          f"{at_refusal['used'] / at_refusal['max']:.0%} used; full after "
          f"{sum(acknowledged.values())} acknowledged turns, none lost; {deleted} sessions "
          f"deleted, new sessions accepted again {recovered:.1f} s later "
          f"({time.monotonic() - freed_at:.1f} s after the delete began)")
