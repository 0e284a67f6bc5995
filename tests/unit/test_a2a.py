"""A2A JSON-RPC 2.0: message/send, tasks/get, tasks/cancel and every error code."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.unit.conftest import MakeClient, RedisKeys


def send(text: str, context_id: str | None = None, **message: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"kind": "message", "role": "user", "messageId": "m-1",
                           "parts": [{"kind": "text", "text": text}], **message}
    if context_id:
        msg["contextId"] = context_id
    return {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": msg}}


async def rpc(client: TestClient, body: Any, agent: str = "orchestrator") -> dict[str, Any]:
    response = await client.post(f"/a2a/{agent}", json=body)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_message_send_returns_a_completed_task(client: TestClient) -> None:
    reply = await rpc(client, send("my name is Bob", "ctx-1"))
    task = reply["result"]
    assert reply["id"] == 1
    assert task["kind"] == "task"
    assert task["contextId"] == "ctx-1"
    assert task["status"]["state"] == "completed"
    assert task["history"][0]["messageId"] == "m-1"
    assert "Bob" in task["artifacts"][0]["parts"][0]["text"]


async def test_context_id_is_the_session(client: TestClient) -> None:
    await rpc(client, send("my name is Bob", "ctx-2"))
    second = await rpc(client, send("what is my name?", "ctx-2"))
    session = await (await client.get("/api/sessions/ctx-2")).json()
    assert second["result"]["artifacts"][0]["parts"][0]["text"] == "Your name is Bob."
    assert len(session["history"]) == 4


async def test_message_to_an_agent_skips_routing(ha_client: TestClient) -> None:
    reply = await rpc(ha_client, send("hello there"), agent="light-agent")
    assert reply["result"]["metadata"]["agent"] == "light-agent"


async def test_tasks_get_and_history_length(client: TestClient) -> None:
    task = (await rpc(client, send("hello")))["result"]
    got = await rpc(client, {"jsonrpc": "2.0", "id": "g", "method": "tasks/get",
                             "params": {"id": task["id"], "historyLength": 1}})
    assert got["result"]["id"] == task["id"]
    assert [m["role"] for m in got["result"]["history"]] == ["agent"]


async def test_tasks_cancel_of_completed_task_is_not_cancelable(client: TestClient) -> None:
    task = (await rpc(client, send("hello")))["result"]
    reply = await rpc(client, {"jsonrpc": "2.0", "id": 2, "method": "tasks/cancel",
                               "params": {"id": task["id"]}})
    assert reply["error"]["code"] == -32002


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "missing"}},
         -32001),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/cancel", "params": {"id": "missing"}},
         -32001),
        ([{"jsonrpc": "2.0", "id": 1, "method": "tasks/get"}], -32600),
        ({"jsonrpc": "1.0", "id": 1, "method": "tasks/get", "params": {}}, -32600),
        ({"jsonrpc": "2.0", "method": "tasks/get", "params": {}}, -32600),
        ({"jsonrpc": "2.0", "id": True, "method": "tasks/get", "params": {}}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/explode", "params": {}}, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": []}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": 3}}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/get",
          "params": {"id": "x", "historyLength": -1}}, -32001),
        ({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}}, -32602),
        # Params message/stream cannot take are answered as message/send answers them.
        ({"jsonrpc": "2.0", "id": 1, "method": "message/stream", "params": {}}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/resubscribe", "params": {}}, -32004),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks/pushNotificationConfig/set",
          "params": {}}, -32003),
    ],
)
async def test_json_rpc_error_codes(client: TestClient, body: Any, code: int) -> None:
    reply = await rpc(client, body)
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"role": "agent"}, -32602),
        ({"messageId": ""}, -32602),
        ({"parts": []}, -32602),
        ({"parts": [{"kind": "file", "file": {"uri": "file:///x"}}]}, -32005),
        ({"parts": [{"kind": "text", "text": "  "}]}, -32602),
        ({"contextId": "../bad"}, -32602),
        ({"taskId": "missing-task"}, -32001),
    ],
)
async def test_message_send_rejects_bad_messages(client: TestClient, redis_keys: RedisKeys,
                                                 message: dict[str, Any], code: int) -> None:
    reply = await rpc(client, send("hello", **message))
    assert reply["error"]["code"] == code
    assert redis_keys() == []


async def test_message_for_a_completed_task_is_invalid_params(client: TestClient) -> None:
    task = (await rpc(client, send("hello")))["result"]
    reply = await rpc(client, send("again", taskId=task["id"]))
    assert reply["error"]["code"] == -32602
    assert "completed" in reply["error"]["message"]


async def test_parse_error_has_null_id(client: TestClient) -> None:
    response = await client.post("/a2a/orchestrator", data="{oops",
                                 headers={"Content-Type": "application/json"})
    reply = await response.json()
    assert reply == {"jsonrpc": "2.0", "id": None,
                     "error": {"code": -32700, "message": reply["error"]["message"]}}


async def test_unknown_agent_is_http_404(client: TestClient) -> None:
    response = await client.post("/a2a/nobody", json=send("hi"))
    assert response.status == 404


async def test_a2a_needs_json_content_type(client: TestClient) -> None:
    response = await client.post("/a2a/orchestrator", data="{}",
                                 headers={"Content-Type": "text/plain"})
    assert response.status == 415


async def test_redis_down_is_internal_error_naming_redis(make_client: MakeClient) -> None:
    from tests.support.redis_server import free_port
    client = await make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    reply = await rpc(client, send("hello"))
    assert reply["error"]["code"] == -32603
    assert reply["error"]["data"] == {"code": "redis_unavailable"}
