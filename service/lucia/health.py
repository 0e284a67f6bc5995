"""Dependency checks for /health and the agents' health, each bounded in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace

from lucia.capacity import FULL, HIGH, CapacityMonitor, Storage
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
    storage: Storage  # Ok, High, Full or Unknown, with the figures (lucia/capacity.py)

    def _storage_status(self) -> str:
        """Redis reachable but out of memory is as bad as unreachable: nothing is saved."""
        if self.redis != "Connected" or self.storage.state == FULL:
            return "Unhealthy"
        return "Degraded" if self.storage.state == HIGH else "Healthy"

    @property
    def status(self) -> str:
        status = self._storage_status()
        if status == "Healthy" and self.home_assistant == "Disconnected":
            return "Degraded"
        return status

    def services(self) -> dict[str, str]:
        return {"redis": self.redis, "homeAssistant": self.home_assistant, "llm": self.llm,
                "storage": self.storage.state}

    def reasons(self) -> list[str]:
        """Why the status is not Healthy, one line per cause."""
        reasons = []
        if self.redis != "Connected":
            reasons.append("redis: not reachable; chat turns fail with redis_unavailable")
        if (storage := self.storage.reason()) is not None:
            reasons.append(storage)
        if self.home_assistant == "Disconnected":
            reasons.append("homeAssistant: not reachable; device commands fail")
        return reasons

    def agent_status(self, agent_id: str) -> str:
        status = self._storage_status()
        if agent_id in {"light-agent", "climate-agent"} and status == "Healthy" \
                and self.home_assistant != "Connected":
            return "Degraded"
        return status


async def _reachable(check: Awaitable[None]) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check
    except (LuciaError, TimeoutError):
        return False
    return True


async def _storage(capacity: CapacityMonitor) -> Storage:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return await capacity.check()
    except TimeoutError:
        return Storage("Unknown")


async def check_health(store: Store, home_assistant: HomeAssistant, model: ChatModel,
                       storage: Storage) -> HealthReport:
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
        storage=storage,
    )


class HealthChecker:
    """Checks at most once per `max_age` seconds; callers in between share the result.

    Probes and load balancers may poll /health hundreds of times a second; pinging Redis
    and Home Assistant for each would make the probe the load. One check runs at a time
    (the others wait on the lock, so still within CHECK_TIMEOUT_SECONDS) and its result is
    reused until it is `max_age` old. `max_age` 0 checks every time."""

    def __init__(self, store: Store, home_assistant: HomeAssistant, model: ChatModel,
                 capacity: CapacityMonitor, max_age: float) -> None:
        self._args = (store, home_assistant, model)
        self._capacity = capacity
        self._max_age = max_age
        self._lock = asyncio.Lock()
        self._last: tuple[float, HealthReport] | None = None

    def _fresh(self) -> HealthReport | None:
        if self._last and time.monotonic() - self._last[0] < self._max_age:
            return self._last[1]
        return None

    async def report(self) -> HealthReport:
        """The cached dependency checks, with storage as the capacity monitor sees it now
        (it keeps its own, shorter cache, dropped the moment Redis refuses a write: so a
        full Redis is never reported Healthy from a cache)."""
        storage = await _storage(self._capacity)
        if cached := self._fresh():
            return replace(cached, storage=storage)
        async with self._lock:
            if cached := self._fresh():
                return replace(cached, storage=storage)
            report = await check_health(*self._args, storage)
            self._last = (time.monotonic(), report)
            return report
