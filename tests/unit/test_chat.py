"""POST /api/chat with the offline model and the Home Assistant simulator: routing to
each agent, device control, multi-agent turns, session memory, stored history."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.conftest import MakeClient, sim_url


async def chat(client: TestClient, message: str, session_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["sessionId"] = session_id
    response = await client.post("/api/chat", json=body)
    assert response.status == 200, await response.text()
    return await response.json()


async def ha_state(client: TestClient, ha_sim: TestServer, entity_id: str) -> dict[str, Any]:
    async with client.session.get(
        f"{sim_url(ha_sim)}/api/states/{entity_id}",
        headers={"Authorization": "Bearer sim-ha-token"},
    ) as response:
        return await response.json()


async def test_chat_without_session_creates_one(client: TestClient) -> None:
    reply = await chat(client, "Hello")
    assert set(reply) == {"response", "sessionId", "timestamp", "agent", "taskId"}
    assert reply["agent"] == "general-assistant"
    assert reply["response"].startswith("Hello")
    session = await (await client.get(f"/api/sessions/{reply['sessionId']}")).json()
    assert [entry["role"] for entry in session["history"]] == ["user", "assistant"]
    assert session["history"][1]["agent"] == "general-assistant"


async def test_chat_turns_on_a_light_in_home_assistant(ha_client: TestClient,
                                                       ha_sim: TestServer) -> None:
    reply = await chat(ha_client, "turn on the kitchen light")
    assert reply["agent"] == "light-agent"
    assert reply["response"] == "Turned on Kitchen Light."
    assert (await ha_state(ha_client, ha_sim, "light.kitchen"))["state"] == "on"


async def test_chat_sets_brightness_and_reports_state(ha_client: TestClient,
                                                      ha_sim: TestServer) -> None:
    reply = await chat(ha_client, "set the living room lamp to 40%")
    state = await ha_state(ha_client, ha_sim, "light.living_room")
    assert reply["response"] == "Set Living Room Lamp to 40% brightness."
    assert state["attributes"]["brightness"] == 102
    status = await chat(ha_client, "is the living room lamp on?")
    assert status["response"] == "Living Room Lamp is on at 40% brightness."


async def test_chat_turns_off_all_lights(ha_client: TestClient, ha_sim: TestServer) -> None:
    reply = await chat(ha_client, "switch off all lights")
    assert reply["agent"] == "light-agent"
    for entity in ("light.kitchen", "light.living_room", "light.bedroom"):
        assert (await ha_state(ha_client, ha_sim, entity))["state"] == "off"


async def test_chat_names_known_lights_when_none_match(ha_client: TestClient) -> None:
    reply = await chat(ha_client, "turn on the garage light")
    assert "couldn't find a light" in reply["response"]
    assert "Kitchen Light" in reply["response"]


async def test_chat_sets_temperature_through_climate_agent(ha_client: TestClient,
                                                           ha_sim: TestServer) -> None:
    reply = await chat(ha_client, "set the temperature to 21 degrees")
    state = await ha_state(ha_client, ha_sim, "climate.living_room")
    assert reply["agent"] == "climate-agent"
    assert state["attributes"]["temperature"] == 21.0


async def test_chat_switches_hvac_mode(ha_client: TestClient, ha_sim: TestServer) -> None:
    reply = await chat(ha_client, "set the thermostat to cool mode")
    assert reply["response"] == "Switched Living Room Thermostat to cool mode."
    assert (await ha_state(ha_client, ha_sim, "climate.living_room"))["state"] == "cool"


@pytest.mark.parametrize(
    ("message", "agent"),
    [
        ("turn off the bedroom lamp", "light-agent"),
        ("what's the temperature on the thermostat?", "climate-agent"),
        ("what is my name?", "general-assistant"),
    ],
)
async def test_offline_routing_picks_the_agent_by_skill(ha_client: TestClient, message: str,
                                                        agent: str) -> None:
    assert (await chat(ha_client, message))["agent"] == agent


async def test_multi_agent_turn_runs_both_and_joins_in_registry_order(
        ha_client: TestClient, ha_sim: TestServer) -> None:
    reply = await chat(ha_client, "set the temperature to 22 and turn on the kitchen light")
    lines = reply["response"].splitlines()
    assert lines == ["Turned on Kitchen Light.", "Set Living Room Thermostat to 22°."]
    assert (await ha_state(ha_client, ha_sim, "light.kitchen"))["state"] == "on"
    task = await (await ha_client.get(f"/api/tasks/{reply['taskId']}")).json()
    assert task["metadata"]["agents"] == ["light-agent", "climate-agent"]


async def test_session_memory_across_turns(client: TestClient) -> None:
    first = await chat(client, "my name is Alice")
    second = await chat(client, "What is my name?", first["sessionId"])
    other = await chat(client, "What is my name?")
    assert second["response"] == "Your name is Alice."
    assert other["response"] == "You haven't told me your name yet."


async def test_chat_without_home_assistant_gives_a_clear_reply(client: TestClient) -> None:
    reply = await chat(client, "turn on the kitchen light")
    assert reply["agent"] == "light-agent"
    assert "isn't configured" in reply["response"]


async def test_chat_with_home_assistant_down_replies_without_5xx(make_client: MakeClient) -> None:
    from tests.support.redis_server import free_port
    client = await make_client(home_assistant_url=f"http://127.0.0.1:{free_port()}",
                               home_assistant_token="t")
    reply = await chat(client, "turn on the kitchen light")
    assert reply["response"].startswith("I can't reach Home Assistant")


async def test_history_is_trimmed_to_the_configured_length(make_client: MakeClient) -> None:
    client = await make_client(history_max_messages=4)
    first = await chat(client, "hello one")
    for text in ("hello two", "hello three"):
        await chat(client, text, first["sessionId"])
    session = await (await client.get(f"/api/sessions/{first['sessionId']}")).json()
    assert [e["content"] for e in session["history"] if e["role"] == "user"] == [
        "hello two", "hello three"]


async def test_only_recent_context_reaches_the_model(make_client: MakeClient) -> None:
    client = await make_client(context_messages=2)
    first = await chat(client, "my name is Alice")
    await chat(client, "hello again", first["sessionId"])
    # "my name is Alice" is now three messages back: outside a context of two.
    reply = await chat(client, "what is my name?", first["sessionId"])
    assert reply["response"] == "You haven't told me your name yet."
    session = await (await client.get(f"/api/sessions/{first['sessionId']}")).json()
    assert len(session["history"]) == 6  # storage keeps everything up to the max
