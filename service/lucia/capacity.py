"""How full Redis is, and what the service does about it (docs/capacity.md).

Redis runs with `noeviction`, so a full Redis refuses every write. The monitor reads
`INFO memory` and the session/task counts at most once per `storage_check_seconds`
(callers in between share the result) and classifies storage as Ok, High (at or above
the watermark: new sessions are refused, or pruned for), Full (at maxmemory) or Unknown
(Redis unreachable, or no maxmemory set).

A write Redis refuses for memory drops the cached result, so the next caller (/health
included) measures again. The figures alone can miss the wall: the refused request's own
query buffer pushed `used_memory` over, and it is freed right after. So a refusal within
the last REFUSAL_MEMORY_SECONDS, while memory is still above the watermark, is Full."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final, Literal

from lucia.errors import LuciaError
from lucia.metrics import Metrics
from lucia.settings import Settings
from lucia.store import Counts, Memory, Store

log = logging.getLogger("lucia.capacity")

StorageState = Literal["Ok", "High", "Full", "Unknown"]
OK: Final = "Ok"
HIGH: Final = "High"
FULL: Final = "Full"
UNKNOWN: Final = "Unknown"
REFUSAL_MEMORY_SECONDS = 10.0
PRUNE_BATCH = 20
# Bound one check's pruning, so a request never waits on a long purge.
PRUNE_BATCHES_PER_CHECK = 50


@dataclass(frozen=True, slots=True)
class Storage:
    state: StorageState
    memory: Memory | None = None
    counts: Counts | None = None
    watermark: float = 0.0

    @property
    def used_ratio(self) -> float | None:
        if self.memory is None or self.memory.max <= 0:
            return None
        return self.memory.used / self.memory.max

    def reason(self) -> str | None:
        """Why storage keeps the service from Healthy, for /health; None when it does not."""
        ratio = self.used_ratio
        if self.state == HIGH and ratio is not None:
            return (f"storage: Redis memory at {ratio:.0%} of maxmemory (high watermark "
                    f"{self.watermark:.0%}); new sessions are refused")
        if self.state == FULL:
            return "storage: Redis is out of memory; writes are refused"
        return None


def classify(memory: Memory, watermark: float, refused_recently: bool = False) -> StorageState:
    if memory.max <= 0:
        return UNKNOWN
    if memory.used >= memory.max:
        return FULL
    if memory.used >= watermark * memory.max:
        return FULL if refused_recently else HIGH
    return OK


class CapacityMonitor:
    def __init__(self, store: Store, settings: Settings, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._watermark = settings.storage_high_watermark
        self._max_age = settings.storage_check_seconds
        self._prune = settings.storage_full_policy == "prune-idle"
        self._lock = asyncio.Lock()
        self._last: tuple[float, Storage] | None = None
        self._refused_at = float("-inf")

    def note_full(self) -> None:
        """A write was refused for memory: forget the cached figures, so that nobody is
        told Ok from before the wall, and remember when."""
        self._refused_at = time.monotonic()
        self._last = None

    def _fresh(self) -> Storage | None:
        if self._last and time.monotonic() - self._last[0] < self._max_age:
            return self._last[1]
        return None

    async def check(self) -> Storage:
        if cached := self._fresh():
            return cached
        async with self._lock:
            if cached := self._fresh():
                return cached
            checked_at = time.monotonic()
            storage = await self._measure()
            if storage.state in (HIGH, FULL) and self._prune:
                storage = await self._prune_until_below(storage)
            self._last = (checked_at, storage)
            self._export(storage)
            return storage

    async def _measure(self) -> Storage:
        try:
            memory = await self._store.memory()
            counts = await self._store.counts()
        except LuciaError:
            return Storage(UNKNOWN, watermark=self._watermark)
        refused_recently = time.monotonic() - self._refused_at < REFUSAL_MEMORY_SECONDS
        return Storage(classify(memory, self._watermark, refused_recently), memory, counts,
                       self._watermark)

    def _above_watermark(self, storage: Storage) -> bool:
        memory = storage.memory
        return memory is not None and memory.used >= self._watermark * memory.max > 0

    async def _prune_until_below(self, storage: Storage) -> Storage:
        """The operator's `prune-idle` choice: delete the sessions closest to expiry (the
        longest idle) in batches until storage is below the watermark again."""
        for _ in range(PRUNE_BATCHES_PER_CHECK):
            if not self._above_watermark(storage):
                break
            oldest = [sid for sid, _ in await self._store.sessions_by_expiry(0, PRUNE_BATCH)]
            if not oldest:
                break
            pruned = await self._store.delete_sessions(oldest)
            self._metrics.sessions_pruned.inc(pruned)
            log.warning("storage above the high watermark: pruned idle sessions",
                        extra={"pruned": pruned, "policy": "prune-idle"})
            storage = await self._measure()
        return storage

    def _export(self, storage: Storage) -> None:
        if storage.memory is not None:
            self._metrics.redis_memory_used.set(storage.memory.used)
            self._metrics.redis_memory_max.set(storage.memory.max)
        if storage.counts is not None:
            self._metrics.redis_keys.labels("session").set(storage.counts.sessions)
            self._metrics.redis_keys.labels("task").set(storage.counts.tasks)
        for state in (OK, HIGH, FULL, UNKNOWN):
            self._metrics.storage_state.labels(state).set(1 if storage.state == state else 0)

    async def admit_session(self, session_id: str | None) -> None:
        """Raise StorageFull when storage is High or Full and the turn would open a new
        session; turns of existing sessions always go through to Redis."""
        storage = await self.check()
        if storage.state not in (HIGH, FULL):
            return
        if session_id is not None and await self._store.session_exists(session_id):
            return
        self._metrics.storage_refusals.inc()
        raise self._store.storage_full(
            "storage is nearly full: new sessions are refused for now; existing sessions "
            "continue (retry later)")
