"""What the Home Assistant agents share: their dependencies, fetching entities of their
domain, and answering plainly (never a 5xx) when Home Assistant is missing or down."""

from __future__ import annotations

from lucia.agents.base import Turn
from lucia.errors import HomeAssistantNotConfigured, HomeAssistantUnavailable
from lucia.homeassistant import HomeAssistant
from lucia.matching import Entity, EntityMatcher


class DeviceAgent:
    domain: str  # the Home Assistant domain this agent controls, e.g. "light"
    things: str  # how replies name what it controls, e.g. "lights"

    def __init__(self, home_assistant: HomeAssistant, matcher: EntityMatcher) -> None:
        self._ha = home_assistant
        self._matcher = matcher

    async def handle(self, turn: Turn) -> str:
        try:
            return await self.act(turn.message)
        except HomeAssistantNotConfigured:
            return f"Home Assistant isn't configured, so I can't control {self.things} yet."
        except HomeAssistantUnavailable:
            return (f"I can't reach Home Assistant right now, so I didn't change "
                    f"{self.things}.")

    async def entities(self) -> list[Entity]:
        prefix = f"{self.domain}."
        return [Entity.from_state(state) for state in await self._ha.states()
                if state.get("entity_id", "").startswith(prefix)]

    async def act(self, message: str) -> str:
        raise NotImplementedError
