"""Dependency checks for /health and the agents' health, each bounded in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from lucia.errors import LuciaError
from lucia.homeassistant import HomeAssistant
from lucia.llm import ChatModel
from lucia.store import Store

# /health must answer within 1 s even when a dependency hangs.
CHECK_TIMEOUT_SECONDS = 0.8


@dataclass(frozen=True, slots=True)
class HealthReport:
    redis: str  # Connected | Disconnected
    home_assistant: str  # Connected | Disconnected | NotConfigured
    llm: str  # Offline | Configured

    @property
    def status(self) -> str:
        if self.redis != "Connected":
            return "Unhealthy"
        if self.home_assistant == "Disconnected":
            return "Degraded"
        return "Healthy"

    def services(self) -> dict[str, str]:
        return {"redis": self.redis, "homeAssistant": self.home_assistant, "llm": self.llm}

    def agent_status(self, agent_id: str) -> str:
        if agent_id in {"light-agent", "climate-agent"}:
            if self.redis != "Connected":
                return "Unhealthy"
            return "Healthy" if self.home_assistant == "Connected" else "Degraded"
        return "Healthy" if self.redis == "Connected" else "Unhealthy"


async def _reachable(check: Awaitable[None]) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check
    except (LuciaError, TimeoutError):
        return False
    return True


async def check_health(store: Store, home_assistant: HomeAssistant,
                       model: ChatModel) -> HealthReport:
    ha_check = home_assistant.ping() if home_assistant.configured else None
    checks = [_reachable(store.ping())]
    if ha_check is not None:
        checks.append(_reachable(ha_check))
    results = await asyncio.gather(*checks)
    ha = "NotConfigured"
    if ha_check is not None:
        ha = "Connected" if results[1] else "Disconnected"
    return HealthReport(
        redis="Connected" if results[0] else "Disconnected",
        home_assistant=ha,
        llm="Offline" if model.provider == "offline" else "Configured",
    )
