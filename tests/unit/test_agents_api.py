"""Agent registry: A2A AgentCards, orchestrator first; per-agent health; 404s."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.unit.conftest import MakeClient

AGENTS = ["orchestrator", "light-agent", "climate-agent", "general-assistant"]
CARD_FIELDS = {"name", "description", "url", "version", "capabilities", "defaultInputModes",
               "defaultOutputModes", "skills"}


async def test_list_agents_orchestrator_first_with_complete_cards(client: TestClient) -> None:
    response = await client.get("/api/agents")
    cards = await response.json()
    assert response.status == 200
    assert [card["url"].rsplit("/", 1)[-1] for card in cards] == AGENTS
    for card in cards:
        assert set(card) >= CARD_FIELDS, card["name"]
        assert set(card["capabilities"]) == {"streaming", "pushNotifications",
                                             "stateTransitionHistory"}
        assert card["skills"], card["name"]
        for skill in card["skills"]:
            assert {"id", "name", "description", "tags", "examples"} <= set(skill)
        assert card["url"].startswith(str(client.make_url("")).rstrip("/"))


@pytest.mark.parametrize("agent_id", AGENTS)
async def test_get_agent_returns_its_card(client: TestClient, agent_id: str) -> None:
    response = await client.get(f"/api/agents/{agent_id}")
    assert response.status == 200
    assert (await response.json())["url"].endswith(f"/a2a/{agent_id}")


async def test_get_unknown_agent_is_404_with_code(client: TestClient) -> None:
    response = await client.get("/api/agents/toaster-agent")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "agent_not_found"


async def test_agent_health_of_unknown_agent_is_404(client: TestClient) -> None:
    response = await client.get("/api/agents/toaster-agent/health")
    assert response.status == 404


async def test_device_agents_degraded_without_home_assistant(client: TestClient) -> None:
    light = await (await client.get("/api/agents/light-agent/health")).json()
    general = await (await client.get("/api/agents/general-assistant/health")).json()
    assert light["status"] == "Degraded"
    assert general["status"] == "Healthy"


async def test_device_agents_healthy_with_home_assistant(ha_client: TestClient) -> None:
    body = await (await ha_client.get("/api/agents/climate-agent/health")).json()
    assert body == {**body, "agentId": "climate-agent", "status": "Healthy"}


async def test_well_known_cards(client: TestClient) -> None:
    root = await (await client.get("/.well-known/agent-card.json")).json()
    light = await (await client.get("/a2a/light-agent/.well-known/agent-card.json")).json()
    missing = await client.get("/a2a/nobody/.well-known/agent-card.json")
    assert root["url"].endswith("/a2a/orchestrator")
    assert light["url"].endswith("/a2a/light-agent")
    assert missing.status == 404


async def test_public_url_setting_is_used_in_cards(make_client: MakeClient) -> None:
    client = await make_client(public_url="https://lucia.example.test/")
    card = await (await client.get("/api/agents/light-agent")).json()
    assert card["url"] == "https://lucia.example.test/a2a/light-agent"
