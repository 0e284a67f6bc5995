"""A2A message/stream: server-sent events, each a JSON-RPC response (A2A's
SendStreamingMessageResponse): the Task, the working status, the reply as artifact
updates, the completed status with `final: true`, and the stored task to match; a stream
that breaks ends with a JSON-RPC error and stores nothing. The cards say streaming."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from lucia.schemas.a2a import JsonRpcStreamResponse
from lucia_sims.openai_compatible import tokens
from tests.unit.conftest import MakeClient, RedisKeys
from tests.unit.sse_reader import Event, names, read_events
from tests.unit.test_a2a import rpc
from tests.unit.test_llm_providers import configure

JOKE = "(simulated model) You said: tell me a joke"


def stream_request(text: str, **message: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": "s-1", "method": "message/stream", "params": {"message": {
        "kind": "message", "role": "user", "messageId": "m-7",
        "parts": [{"kind": "text", "text": text}], **message}}}


async def stream(client: TestClient, body: dict[str, Any],
                 agent: str = "orchestrator") -> list[Event]:
    started = time.perf_counter()
    events = await read_events(await client.post(f"/a2a/{agent}", json=body), started)
    assert set(names(events)) == {None}, "A2A events are unnamed (the SSE default, message)"
    for event in events:
        JsonRpcStreamResponse.model_validate(event.data)  # each is the contract's, strictly
        assert (event.data["jsonrpc"], event.data["id"]) == ("2.0", body["id"])
    return events


def kinds(events: list[Event]) -> list[str]:
    return [event.data["result"]["kind"] if "result" in event.data else "error"
            for event in events]


@pytest.fixture
async def llm_client(make_client: MakeClient, llm_connection: Callable[[str], str]) -> TestClient:
    return await make_client(chat_model=llm_connection("openai"))


async def test_message_stream_sends_the_task_its_status_and_the_reply_as_artifacts(
        llm_client: TestClient) -> None:
    events = await stream(llm_client, stream_request("tell me a joke", contextId="ctx-s"))
    results = [event.data["result"] for event in events]
    pieces = tokens(JOKE)
    assert kinds(events) == ["task", "status-update", *["artifact-update"] * len(pieces),
                             "artifact-update", "status-update"]

    task, working, *artifacts, closing, completed = results
    assert (task["contextId"], task["status"]["state"]) == ("ctx-s", "submitted")
    assert task["history"][0]["messageId"] == "m-7"
    assert (working["status"]["state"], working["final"]) == ("working", False)
    assert [a["artifact"]["parts"] for a in artifacts] == [
        [{"kind": "text", "text": piece}] for piece in pieces]
    assert [(a["append"], a["lastChunk"]) for a in artifacts] == \
        [(False, False)] + [(True, False)] * (len(pieces) - 1)
    assert (closing["append"], closing["lastChunk"], closing["artifact"]["parts"]) == \
        (True, True, [])
    assert (completed["status"]["state"], completed["final"]) == ("completed", True)
    for event in results[1:]:
        assert (event["taskId"], event["contextId"]) == (task["id"], "ctx-s")
    assert len({a["artifact"]["artifactId"] for a in [*artifacts, closing]}) == 1

    # The stored task is what message/send would have stored, with the streamed ids.
    stored = (await rpc(llm_client, {"jsonrpc": "2.0", "id": 2, "method": "tasks/get",
                                     "params": {"id": task["id"]}}))["result"]
    assert stored["status"] == completed["status"]
    assert stored["history"][0] == task["history"][0]
    assert stored["artifacts"] == [{"artifactId": closing["artifact"]["artifactId"],
                                    "name": "response",
                                    "parts": [{"kind": "text", "text": JOKE}]}]
    assert stored["metadata"]["agent"] == "general-assistant"


async def test_message_stream_to_an_agent_skips_routing(client: TestClient) -> None:
    events = await stream(client, stream_request("my name is Ann"), agent="general-assistant")
    assert kinds(events) == ["task", "status-update", "artifact-update", "artifact-update",
                             "status-update"]
    assert events[2].data["result"]["artifact"]["parts"][0]["text"] == \
        "Nice to meet you, Ann. I'll remember that."


async def test_a_broken_stream_ends_with_a_json_rpc_error_and_stores_nothing(
        llm_client: TestClient, llm_sim: TestServer, redis_keys: RedisKeys) -> None:
    await configure(llm_client, llm_sim, scope="chat", fail_after_tokens=2)
    events = await stream(llm_client, stream_request("tell me a joke"))
    assert kinds(events) == ["task", "status-update", "artifact-update", "artifact-update",
                             "error"]
    error = events[-1].data["error"]
    assert error["code"] == -32603
    assert error["data"] == {"code": "llm_unavailable"}
    assert redis_keys() == []
    task_id = events[0].data["result"]["id"]
    missing = await rpc(llm_client, {"jsonrpc": "2.0", "id": 3, "method": "tasks/get",
                                     "params": {"id": task_id}})
    assert missing["error"]["code"] == -32001


async def test_a_turn_that_fails_before_its_reply_is_an_error_event_after_the_task(
        llm_client: TestClient, llm_sim: TestServer, redis_keys: RedisKeys) -> None:
    await configure(llm_client, llm_sim, scope="routing", fail_count=1)
    events = await stream(llm_client, stream_request("tell me a joke"))
    assert kinds(events) == ["task", "status-update", "error"]
    assert events[-1].data["error"]["data"] == {"code": "llm_unavailable"}
    assert redis_keys() == []


async def test_message_stream_naming_a_task_is_refused_as_message_send_refuses_it(
        client: TestClient) -> None:
    response = await client.post("/a2a/orchestrator",
                                 json=stream_request("more", taskId="no-such-task"))
    assert response.content_type == "application/json"
    assert (await response.json())["error"]["code"] == -32001


async def test_resubscribe_stays_unsupported(client: TestClient) -> None:
    reply = await rpc(client, {"jsonrpc": "2.0", "id": 1, "method": "tasks/resubscribe",
                               "params": {"id": "x"}})
    assert reply["error"]["code"] == -32004


async def test_every_agent_card_says_it_streams(client: TestClient) -> None:
    cards = await (await client.get("/api/agents")).json()
    well_known = await (await client.get("/.well-known/agent-card.json")).json()
    assert [card["capabilities"]["streaming"] for card in [*cards, well_known]] == \
        [True] * (len(cards) + 1)
