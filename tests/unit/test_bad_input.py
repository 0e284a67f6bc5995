"""Bad input gets a 4xx with a clear code and writes nothing to Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from tests.unit.conftest import MakeClient

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ("{not json", JSON, 400, "invalid_json"),
        ('{"message": "hi"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ('{"message": "hi"}', {}, 415, "unsupported_media_type"),
        ("[1, 2]", JSON, 400, "invalid_request"),
        ("{}", JSON, 400, "invalid_request"),
        ('{"message": 42}', JSON, 400, "invalid_request"),
        ('{"message": ""}', JSON, 400, "empty_message"),
        ('{"message": "   \\n "}', JSON, 400, "empty_message"),
        ('{"message": "hi", "extra": 1}', JSON, 400, "unknown_field"),
        ('{"message": "hi", "sessionId": "../etc"}', JSON, 400, "invalid_session_id"),
        ('{"message": "hi", "sessionId": ""}', JSON, 400, "invalid_session_id"),
        ('{"message": "hi", "sessionId": 7}', JSON, 400, "invalid_session_id"),
        ('{"message": "hi", "sessionId": null}', JSON, 400, "invalid_session_id"),
        ('{"message": "hi", "sessionId": "' + "a" * 129 + '"}', JSON, 400,
         "invalid_session_id"),
        ('{"message": "' + "x" * 4001 + '"}', JSON, 400, "message_too_long"),
    ],
)
async def test_chat_rejects_bad_input_and_writes_nothing(
        client: TestClient, redis_keys: Callable[[], list[str]], body: str,
        headers: dict[str, str], status: int, code: str) -> None:
    response = await client.post("/api/chat", data=body, headers=headers)
    payload = await response.json()
    assert response.status == status
    assert payload["error"]["code"] == code
    assert payload["error"]["message"]
    assert redis_keys() == []


async def test_chat_accepts_message_at_the_limit(client: TestClient) -> None:
    response = await client.post("/api/chat", json={"message": "x" * 4000})
    assert response.status == 200


async def test_message_limit_is_configurable(make_client: MakeClient) -> None:
    client = await make_client(max_message_chars=10)
    response = await client.post("/api/chat", json={"message": "x" * 11})
    assert (await response.json())["error"]["code"] == "message_too_long"


async def test_oversized_body_is_413(make_client: MakeClient,
                                     redis_keys: Callable[[], list[str]]) -> None:
    client = await make_client(max_body_bytes=2048)
    response = await client.post("/api/chat", json={"message": "x" * 3000})
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"
    assert redis_keys() == []


async def test_oversized_chunked_body_is_413(make_client: MakeClient) -> None:
    client = await make_client(max_body_bytes=2048)

    async def chunks():
        for _ in range(4):
            yield b'{"message": "' + b"x" * 1000
    response = await client.post("/api/chat", data=chunks(), headers=JSON)
    assert response.status == 413


async def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_wrong_method_is_json_405(client: TestClient) -> None:
    response = await client.get("/api/chat")
    assert response.status == 405
    assert (await response.json())["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


async def test_request_id_is_honoured_or_generated(client: TestClient) -> None:
    given = await client.get("/alive", headers={"X-Request-Id": "trace-123"})
    generated = await client.get("/alive")
    assert given.headers["X-Request-Id"] == "trace-123"
    assert len(generated.headers["X-Request-Id"]) == 32


@pytest.mark.parametrize("blank", ["\x1c", " \x85 ", "\ufeff", "\u00a0\u2028", "\t\n"])
async def test_chat_rejects_a_message_of_separators_and_the_contract_agrees(
        client: TestClient, blank: str) -> None:
    """Blank by Python's rule or ECMAScript's: 400, and the contract's pattern rejects it
    too (found by the live contract run: U+001C matched `\\S` but the service said empty)."""
    import re

    from lucia.validation import MESSAGE_PATTERN

    response = await client.post("/api/chat", json={"message": blank})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "empty_message"
    assert re.search(MESSAGE_PATTERN, blank) is None


async def test_requests_are_logged_at_info_and_healthy_probes_at_debug(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """One line per request at INFO, except probes that answered well (Docker's
    healthcheck calls them every 2 s): those are DEBUG. A failing probe stays INFO."""
    import logging

    caplog.set_level(logging.DEBUG, logger="lucia.http")
    await client.get("/alive", headers={"X-Request-Id": "probe-ok"})
    await client.get("/api/agents", headers={"X-Request-Id": "api-call"})
    await client.get("/nowhere", headers={"X-Request-Id": "not-found"})
    levels = {getattr(r, "path", ""): r.levelno for r in caplog.records
              if r.name == "lucia.http" and r.getMessage() == "request"}
    assert levels == {"/alive": logging.DEBUG, "/api/agents": logging.INFO,
                      "/nowhere": logging.INFO}
