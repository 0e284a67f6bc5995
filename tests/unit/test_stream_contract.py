"""The streams match /openapi.json as the contract gate reads it: schemathesis validates
each server-sent event of a real stream (its name and its JSON data) against the
document's text/event-stream schema, and refuses a stream that breaks it."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from schemathesis.core.failures import Failure, FailureGroup

from tests.unit.test_a2a_streaming import stream_request

SSE = "text/event-stream; charset=utf-8"


@pytest.fixture
async def contract(client: TestClient) -> Any:
    document = await (await client.get("/openapi.json")).json()
    return schemathesis.openapi.from_dict(document)


def as_received(path: str, body: bytes) -> schemathesis.Response:
    return schemathesis.Response(
        status_code=200, headers={"content-type": [SSE]}, content=body,
        request=requests.Request("POST", f"http://lucia{path}").prepare(), elapsed=0.1,
        verify=True)


async def streamed(client: TestClient, path: str, body: dict[str, Any]) -> bytes:
    response = await client.post(path, json=body, headers={"Accept": "text/event-stream"})
    assert response.headers["Content-Type"] == SSE
    return await response.read()


async def test_a_chat_stream_matches_the_contract(client: TestClient, contract: Any) -> None:
    body = await streamed(client, "/api/chat", {"message": "hello"})
    assert body.count(b"event: ") == 2  # a token and done
    contract["/api/chat"]["POST"].validate_response(as_received("/api/chat", body))


@pytest.mark.parametrize("event", [
    b'event: done\ndata: {"response":"hi","sessionId":"s","timestamp":"2026-01-01T00:00:00Z",'
    b'"agent":"general-assistant"}\n\n',
    b'event: token\ndata: {"text":5}\n\n',
    b'event: chunk\ndata: {"text":"hi"}\n\n',
    b'event: error\ndata: {"error":{"code":"llm_unavailable"}}\n\n',
], ids=["done without taskId", "token not text", "unknown event", "error without message"])
async def test_the_contract_refuses_a_chat_stream_that_breaks_it(
        contract: Any, event: bytes) -> None:
    good = b'event: token\ndata: {"text":"hi"}\n\n'
    with pytest.raises((Failure, FailureGroup), match="SSE event"):
        contract["/api/chat"]["POST"].validate_response(as_received("/api/chat", good + event))


async def test_an_a2a_stream_matches_the_contract(client: TestClient, contract: Any) -> None:
    body = await streamed(client, "/a2a/orchestrator", stream_request("hello"))
    assert body.count(b"data: ") == 5
    contract["/a2a/{agentId}"]["POST"].validate_response(as_received("/a2a/orchestrator", body))


async def test_the_contract_refuses_an_a2a_event_that_breaks_it(contract: Any) -> None:
    event = (b'data: {"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t",'
             b'"contextId":"c","status":{"state":"working","timestamp":"2026-01-01T00:00:00Z"'
             b'}}}\n\n')  # no `final`
    with pytest.raises((Failure, FailureGroup), match="SSE event"):
        contract["/a2a/{agentId}"]["POST"].validate_response(
            as_received("/a2a/orchestrator", event))
