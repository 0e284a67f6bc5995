"""The behaviour smoke of the live profile: safe against a real home. Every turn carries
`X-Lucia-Dry-Run: true` (no device moves), and every session a test makes is deleted.

Health as the configuration implies, the registry, a dry-run turn per agent routed to it
(naming a real entity where Home Assistant answers), a session round trip and its deletion,
metrics, and the API key where one is set."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import profile
from tests.support.deployed import Deployed

AGENTS = ["orchestrator", "light-agent", "climate-agent", "general-assistant"]


@pytest.fixture
def sessions(deployed: Deployed) -> Iterator[set[str]]:
    """Sessions this test creates; all deleted afterwards."""
    made: set[str] = set()
    yield made
    deployed.forget(made)


def dry_chat(deployed: Deployed, sessions: set[str], message: str,
             session_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, **({"sessionId": session_id}
                                                   if session_id else {})}
    status, reply = deployed.call("POST", "/api/chat", body, headers=profile.DRY_RUN)
    assert status == 200, reply
    sessions.add(reply["sessionId"])
    assert reply["dryRun"] is True, "the service ignored X-Lucia-Dry-Run"
    return reply


def health(deployed: Deployed) -> dict[str, Any]:
    status, body = deployed.call("GET", "/health")
    assert status in (200, 503), body
    return body


def test_health_is_as_the_configuration_implies(deployed: Deployed) -> None:
    services = health(deployed)["services"]
    assert services["redis"] == "Connected"
    # A real home's Redis has a maxmemory (the program sets it) and is not near it.
    assert services["storage"] == "Ok", services
    configured = bool(deployed.outputs.get("home_assistant_url"))
    assert (services["homeAssistant"] != "NotConfigured") == configured, services
    has_model = bool(deployed.secrets.get("chatModel")) or "sim_llm_container" in \
        deployed.outputs
    assert services["llm"] == ("Configured" if has_model else "Offline"), services


def test_registry_lists_the_four_agents(deployed: Deployed) -> None:
    status, cards = deployed.call("GET", "/api/agents")
    assert status == 200
    assert [card["url"].rsplit("/", 1)[1] for card in cards] == AGENTS


@pytest.mark.parametrize(("message", "agent"), [
    ("turn on the kitchen light", "light-agent"),
    ("set the thermostat temperature to 21", "climate-agent"),
    ("hello, who are you?", "general-assistant"),
])
def test_a_dry_run_turn_reaches_each_agent(deployed: Deployed, sessions: set[str],
                                           message: str, agent: str) -> None:
    reply = dry_chat(deployed, sessions, message)
    assert reply["agent"] == agent, reply
    assert reply["response"].startswith("[dry run: nothing was changed]")


def test_a_dry_run_light_turn_names_a_real_entity(deployed: Deployed,
                                                  sessions: set[str]) -> None:
    if health(deployed)["services"]["homeAssistant"] != "Connected":
        pytest.skip("Home Assistant is not configured or not reachable from this stack, so "
                    "there is no entity to name")
    reply = dry_chat(deployed, sessions, "turn on the kitchen light")
    named = [entity for action in reply["actions"] for entity in action["entityIds"]]
    assert named or "The lights I know:" in reply["response"], reply


def test_session_round_trip_then_deletion(deployed: Deployed, sessions: set[str]) -> None:
    session = f"live-{uuid.uuid4().hex[:12]}"
    dry_chat(deployed, sessions, "my name is Alice", session)
    dry_chat(deployed, sessions, "what is my name?", session)
    status, stored = deployed.call("GET", f"/api/sessions/{session}")
    assert status == 200
    assert len(stored["history"]) == 4
    assert all(entry.get("dryRun") for entry in stored["history"])
    assert deployed.call("DELETE", f"/api/sessions/{session}")[0] == 204
    assert deployed.call("GET", f"/api/sessions/{session}")[0] == 404


def test_metrics_are_served(deployed: Deployed) -> None:
    status, text = deployed.call("GET", "/metrics")
    assert status == 200
    assert "lucia_http_requests_total" in str(text)


def test_api_key_is_enforced_when_set(deployed: Deployed) -> None:
    if not deployed.api_key:
        pytest.skip("this stack has no API key (lucia:apiKey / LUCIA_API_KEY unset)")
    status, body = deployed.call("POST", "/api/chat", {"message": "hello"}, auth=False,
                                 headers=profile.DRY_RUN)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
