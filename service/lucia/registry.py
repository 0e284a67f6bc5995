"""A2A AgentCards for the orchestrator and every agent, orchestrator first, and what each
needs to answer."""

from __future__ import annotations

from lucia.agents.base import Agent, Skill
from lucia.dependencies import Dependency
from lucia.orchestrator import ORCHESTRATOR
from lucia.schemas.a2a import AgentCapabilities, AgentCard, AgentSkill

A2A_PROTOCOL_VERSION = "0.3.0"

ORCHESTRATOR_SKILL = Skill(
    "orchestration", "Orchestration",
    "Routes each message to the agents that can handle it and joins their replies.",
    ("routing", "orchestration"),
    ("Turn on the kitchen light and set the temperature to 21",),
)
# Routing asks the chat model (when one is configured), and every turn is stored.
ORCHESTRATOR_REQUIRES = (Dependency.LLM, Dependency.REDIS)


def card(agent_id: str, name: str, description: str, skills: tuple[Skill, ...],
         base_url: str, version: str) -> AgentCard:
    return AgentCard(
        protocolVersion=A2A_PROTOCOL_VERSION,
        name=name,
        description=description,
        url=f"{base_url}/a2a/{agent_id}",
        preferredTransport="JSONRPC",
        version=version,
        capabilities=AgentCapabilities(streaming=True, pushNotifications=False,
                                       stateTransitionHistory=False),
        defaultInputModes=["text/plain"],
        defaultOutputModes=["text/plain"],
        skills=[AgentSkill(id=skill.id, name=skill.name, description=skill.description,
                           tags=list(skill.tags), examples=list(skill.examples))
                for skill in skills],
    )


class AgentRegistry:
    def __init__(self, agents: list[Agent], version: str) -> None:
        self._agents = {agent.id: agent for agent in agents}
        self._version = version
        self.ids = [ORCHESTRATOR, *self._agents]

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.ids

    def card(self, agent_id: str, base_url: str) -> AgentCard:
        if agent_id == ORCHESTRATOR:
            return card(ORCHESTRATOR, "Lucia Orchestrator",
                        "Entry point: understands a request and hands it to the right agents.",
                        (ORCHESTRATOR_SKILL,), base_url, self._version)
        agent = self._agents[agent_id]
        return card(agent.id, agent.name, agent.description, agent.skills, base_url,
                    self._version)

    def cards(self, base_url: str) -> list[AgentCard]:
        return [self.card(agent_id, base_url) for agent_id in self.ids]

    def requirements(self, agent_id: str) -> tuple[Dependency, ...]:
        if agent_id == ORCHESTRATOR:
            return ORCHESTRATOR_REQUIRES
        return self._agents[agent_id].requires
