"""A2A AgentCards for the orchestrator and every agent, orchestrator first."""

from __future__ import annotations

from typing import Any

from lucia.agents.base import Agent, Skill
from lucia.orchestrator import ORCHESTRATOR

A2A_PROTOCOL_VERSION = "0.3.0"

ORCHESTRATOR_SKILL = Skill(
    "orchestration", "Orchestration",
    "Routes each message to the agents that can handle it and joins their replies.",
    ("routing", "orchestration"),
    ("Turn on the kitchen light and set the temperature to 21",),
)


def card(agent_id: str, name: str, description: str, skills: tuple[Skill, ...],
         base_url: str, version: str) -> dict[str, Any]:
    return {
        "protocolVersion": A2A_PROTOCOL_VERSION,
        "name": name,
        "description": description,
        "url": f"{base_url}/a2a/{agent_id}",
        "preferredTransport": "JSONRPC",
        "version": version,
        "capabilities": {
            "streaming": False,
            "pushNotifications": False,
            "stateTransitionHistory": False,
        },
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [skill.card() for skill in skills],
    }


class AgentRegistry:
    def __init__(self, agents: list[Agent], version: str) -> None:
        self._agents = agents
        self._version = version
        self.ids = [ORCHESTRATOR, *(agent.id for agent in agents)]

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.ids

    def card(self, agent_id: str, base_url: str) -> dict[str, Any]:
        if agent_id == ORCHESTRATOR:
            return card(ORCHESTRATOR, "Lucia Orchestrator",
                        "Entry point: understands a request and hands it to the right agents.",
                        (ORCHESTRATOR_SKILL,), base_url, self._version)
        agent = next(a for a in self._agents if a.id == agent_id)
        return card(agent.id, agent.name, agent.description, agent.skills, base_url,
                    self._version)

    def cards(self, base_url: str) -> list[dict[str, Any]]:
        return [self.card(agent_id, base_url) for agent_id in self.ids]
