"""What /health reports: every dependency probed (each bounded in time, together cached),
the service's status and each agent's, derived from the dependencies it declares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from lucia.capacity import FULL, HIGH, CapacityMonitor, Storage
from lucia.dependencies import Dependency
from lucia.errors import LuciaError
from lucia.homeassistant import HomeAssistant
from lucia.llm import ChatModel
from lucia.store import Store

# /health must answer within 1 s even when a dependency hangs.
CHECK_TIMEOUT_SECONDS = 0.8

Status = Literal["Healthy", "Degraded", "Unhealthy"]
RedisState = Literal["Connected", "Disconnected"]
HomeAssistantState = Literal["Connected", "Disconnected", "NotConfigured"]
LlmState = Literal["Offline", "Configured", "Unreachable"]

_WORST_LAST: tuple[Status, ...] = ("Healthy", "Degraded", "Unhealthy")


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=_WORST_LAST.index, default="Healthy")


@dataclass(frozen=True, slots=True)
class HealthReport:
    redis: RedisState
    home_assistant: HomeAssistantState
    llm: LlmState
    storage: Storage  # Ok, High, Full or Unknown, with the figures (lucia/capacity.py)
    llm_problem: str = ""  # what the LLM probe met, when it failed

    def _redis_status(self) -> Status:
        """Redis reachable but out of memory is as bad as unreachable: nothing is saved."""
        if self.redis != "Connected" or self.storage.state == FULL:
            return "Unhealthy"
        return "Degraded" if self.storage.state == HIGH else "Healthy"

    def _effects(self, dependency: Dependency) -> tuple[Status, Status]:
        """What a dependency's state does (to the service, to an agent that needs it).
        Home Assistant not configured leaves the service Healthy (it is a choice) but an
        agent that needs it cannot act."""
        match dependency:
            case Dependency.REDIS:
                return self._redis_status(), self._redis_status()
            case Dependency.HOME_ASSISTANT:
                return ("Degraded" if self.home_assistant == "Disconnected" else "Healthy",
                        "Healthy" if self.home_assistant == "Connected" else "Degraded")
            case Dependency.LLM:
                status: Status = "Degraded" if self.llm == "Unreachable" else "Healthy"
                return status, status

    @property
    def status(self) -> Status:
        return worst(self._effects(dependency)[0] for dependency in Dependency)

    def agent_status(self, requires: Iterable[Dependency]) -> Status:
        return worst(self._effects(dependency)[1] for dependency in requires)

    def reasons(self) -> list[str]:
        """Why the status is not Healthy, one line per cause."""
        reasons = []
        if self.redis != "Connected":
            reasons.append("redis: not reachable; chat turns fail with redis_unavailable")
        if (storage := self.storage.reason()) is not None:
            reasons.append(storage)
        if self.home_assistant == "Disconnected":
            reasons.append("homeAssistant: not reachable; device commands fail")
        if self.llm == "Unreachable":
            reasons.append(f"llm: not reachable ({self.llm_problem}); chat turns fail with "
                           "llm_unavailable")
        return reasons


async def _probe(check: Awaitable[None]) -> str | None:
    """None when the check passed, else what went wrong."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check
    except LuciaError as exc:
        return exc.message
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    return None


async def _passed() -> None:
    """The check of a dependency that is not there to probe."""


async def _storage(capacity: CapacityMonitor) -> Storage:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return await capacity.check()
    except TimeoutError:
        return Storage("Unknown")


async def check_health(store: Store, home_assistant: HomeAssistant, model: ChatModel,
                       storage: Storage) -> HealthReport:
    """Probe every dependency /health reports, concurrently."""
    offline = model.provider == "offline"  # embedded: nothing to reach
    redis, ha, llm = await asyncio.gather(
        _probe(store.ping()),
        _probe(home_assistant.ping() if home_assistant.configured else _passed()),
        _probe(_passed() if offline else model.probe()))
    ha_state: HomeAssistantState = "NotConfigured"
    if home_assistant.configured:
        ha_state = "Connected" if ha is None else "Disconnected"
    llm_state: LlmState = "Offline" if offline else "Configured" if llm is None else "Unreachable"
    return HealthReport(redis="Connected" if redis is None else "Disconnected",
                        home_assistant=ha_state, llm=llm_state, storage=storage,
                        llm_problem=llm or "")


class HealthChecker:
    """Checks at most once per `max_age` seconds; callers in between share the result.

    Probes and load balancers may poll /health hundreds of times a second; pinging Redis,
    Home Assistant and the LLM for each would make the probe the load. One check runs at a
    time (the others wait on the lock, so still within CHECK_TIMEOUT_SECONDS) and its result
    is reused until it is `max_age` old. `max_age` 0 checks every time."""

    def __init__(self, store: Store, home_assistant: HomeAssistant, model: ChatModel,
                 capacity: CapacityMonitor, max_age: float) -> None:
        self._store = store
        self._home_assistant = home_assistant
        self._model = model
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
            report = await check_health(self._store, self._home_assistant, self._model,
                                        storage)
            self._last = (time.monotonic(), report)
            return report
