"""What the Home Assistant agents share: their dependencies, fetching entities of their
domain, and answering plainly (never a 5xx) when Home Assistant is missing or down."""

from __future__ import annotations

from typing import Any

from lucia.agents.base import Agent, Turn
from lucia.dependencies import Dependency
from lucia.errors import HomeAssistantNotConfigured, HomeAssistantUnavailable
from lucia.homeassistant import HomeAssistant
from lucia.matching import Entity, EntityMatcher


class DeviceAgent(Agent):
    # Replies come from templates after Home Assistant answers: `stream` is Agent's, the
    # whole reply as one chunk.
    domain: str  # the Home Assistant domain this agent controls, e.g. "light"
    things: str  # how replies name what it controls, e.g. "lights"
    requires: tuple[Dependency, ...] = (Dependency.HOME_ASSISTANT, Dependency.REDIS)

    def __init__(self, home_assistant: HomeAssistant, matcher: EntityMatcher) -> None:
        self._ha = home_assistant
        self._matcher = matcher

    async def handle(self, turn: Turn) -> str:
        try:
            return await self.act(turn)
        except HomeAssistantNotConfigured:
            return f"Home Assistant isn't configured, so I can't control {self.things} yet."
        except HomeAssistantUnavailable:
            return (f"I can't reach Home Assistant right now, so I didn't change "
                    f"{self.things}.")

    async def entities(self) -> list[Entity]:
        prefix = f"{self.domain}."
        return [Entity.from_state(state) for state in await self._ha.states()
                if state.get("entity_id", "").startswith(prefix)]

    async def call(self, turn: Turn, service: str, data: dict[str, Any]) -> None:
        """Call a Home Assistant service of this agent's domain, or, in a dry run, record
        the call it would have made (reading state and matching still happen)."""
        if turn.dry_run:
            ids = data.get("entity_id") or []
            turn.actions.append({"domain": self.domain, "service": service,
                                 "entityIds": [ids] if isinstance(ids, str) else list(ids),
                                 "data": {k: v for k, v in data.items() if k != "entity_id"}})
            return
        await self._ha.call_service(self.domain, service, data)

    async def act(self, turn: Turn) -> str:
        raise NotImplementedError
