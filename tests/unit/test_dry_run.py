"""`X-Lucia-Dry-Run: true`: everything but the side effect. The turn routes, reads Home
Assistant's state, matches entities and answers, but calls no Home Assistant service; the
reply and the task say what it would have done, and the turn is stored, marked."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.conftest import sim_url
from tests.unit.test_chat import ha_state

DRY = {"X-Lucia-Dry-Run": "true"}


async def sim_calls(client: TestClient, ha_sim: TestServer) -> list[dict[str, Any]]:
    async with client.session.get(f"{sim_url(ha_sim)}/sim/calls") as response:
        return await response.json()


async def post_chat(client: TestClient, message: str, headers: dict[str, str]) -> Any:
    response = await client.post("/api/chat", json={"message": message}, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_dry_run_turns_no_light_on_and_calls_no_service(ha_client: TestClient,
                                                              ha_sim: TestServer) -> None:
    reply = await post_chat(ha_client, "turn on the kitchen light", DRY)
    assert (await ha_state(ha_client, ha_sim, "light.kitchen"))["state"] == "off"
    assert await sim_calls(ha_client, ha_sim) == []
    assert reply["agent"] == "light-agent"
    assert reply["dryRun"] is True
    assert reply["actions"] == [{"domain": "light", "service": "turn_on",
                                 "entityIds": ["light.kitchen"], "data": {}}]
    assert reply["response"].startswith("[dry run: nothing was changed] Turned on Kitchen")
    assert "light.turn_on on light.kitchen" in reply["response"]


async def test_the_same_turn_without_the_header_turns_the_light_on(
        ha_client: TestClient, ha_sim: TestServer) -> None:
    reply = await post_chat(ha_client, "turn on the kitchen light", {})
    assert (await ha_state(ha_client, ha_sim, "light.kitchen"))["state"] == "on"
    assert [c["service"] for c in await sim_calls(ha_client, ha_sim)] == ["turn_on"]
    assert "dryRun" not in reply
    assert "actions" not in reply


async def test_dry_run_turn_is_stored_marked_with_its_actions(ha_client: TestClient) -> None:
    reply = await post_chat(ha_client, "set the temperature to 22", DRY)
    task = await (await ha_client.get(f"/api/tasks/{reply['taskId']}")).json()
    assert task["metadata"]["dryRun"] is True
    assert task["metadata"]["actions"] == [{
        "domain": "climate", "service": "set_temperature",
        "entityIds": ["climate.living_room"], "data": {"temperature": 22.0}}]
    session = await (await ha_client.get(f"/api/sessions/{reply['sessionId']}")).json()
    assert [entry.get("dryRun") for entry in session["history"]] == [True, True]


async def test_dry_run_question_needs_no_service_call(ha_client: TestClient) -> None:
    reply = await post_chat(ha_client, "is the kitchen light on?", DRY)
    assert reply["actions"] == []
    assert reply["response"].endswith("No service call was needed.")


@pytest.mark.parametrize("value", ["yes", "1", "", "TRUE please", "TRUE", "True"])
async def test_dry_run_header_must_be_true_or_false(ha_client: TestClient, ha_sim: TestServer,
                                                    value: str) -> None:
    response = await ha_client.post("/api/chat", json={"message": "turn on the kitchen light"},
                                    headers={"X-Lucia-Dry-Run": value})
    body = await response.json()
    assert response.status == 400
    assert body["error"]["code"] == "invalid_request"
    assert "X-Lucia-Dry-Run must be true or false" in body["error"]["message"]
    assert (await ha_state(ha_client, ha_sim, "light.kitchen"))["state"] == "off"


async def test_a2a_message_send_honours_the_dry_run(ha_client: TestClient,
                                                    ha_sim: TestServer) -> None:
    envelope = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {
        "kind": "message", "messageId": "m1", "role": "user",
        "parts": [{"kind": "text", "text": "turn on the kitchen light"}]}}}
    response = await ha_client.post("/a2a/light-agent", json=envelope, headers=DRY)
    task = (await response.json())["result"]
    assert task["metadata"]["dryRun"] is True
    assert task["metadata"]["actions"][0]["service"] == "turn_on"
    assert (await ha_state(ha_client, ha_sim, "light.kitchen"))["state"] == "off"
    bad = await ha_client.post("/a2a/light-agent", json=envelope,
                               headers={"X-Lucia-Dry-Run": "maybe"})
    assert bad.status == 400


async def test_a_repeated_dry_run_header_is_refused(ha_client: TestClient,
                                                   ha_sim: TestServer) -> None:
    response = await ha_client.post("/api/chat", json={"message": "turn on the kitchen light"},
                                    headers=[("X-Lucia-Dry-Run", "true"),
                                             ("X-Lucia-Dry-Run", "false")])
    assert response.status == 400
    assert "given 2 times" in (await response.json())["error"]["message"]
    assert (await ha_state(ha_client, ha_sim, "light.kitchen"))["state"] == "off"
