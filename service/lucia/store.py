"""Sessions, conversation history and A2A tasks in Redis.

Keys (all with TTLs, except the two indexes, which are trimmed as entries expire):
  lucia:session:{id}          hash: createdAt, lastAccessedAt
  lucia:session:{id}:history  list of JSON history entries, newest last, trimmed
  lucia:session:{id}:tasks    set of the session's task ids (deleted with the session)
  lucia:task:{id}             JSON A2A task
  lucia:index:sessions        sorted set: session id -> expiry (epoch seconds)
  lucia:index:tasks           sorted set: task id -> expiry (epoch seconds)

A chat turn is written in one MULTI/EXEC, so a session never holds a user message
without its reply. Every Redis failure becomes `RedisUnavailable`, except Redis's
out-of-memory refusal, which becomes `StorageFull` (docs/capacity.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lucia.errors import RedisUnavailable, SessionNotFound, StorageFull, TaskNotFound
from lucia.settings import Settings

SESSION_PREFIX = "lucia:session:"
TASK_PREFIX = "lucia:task:"
SESSION_INDEX = "lucia:index:sessions"
TASK_INDEX = "lucia:index:tasks"


def session_key(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}"


def history_key(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}:history"


def tasks_key(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}:tasks"


def task_key(task_id: str) -> str:
    return f"{TASK_PREFIX}{task_id}"


def _text(value: bytes | str) -> str:
    """A reply as text: decode_responses=True makes every reply a str, but the client's
    types cannot know that flag and allow bytes too."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Memory:
    used: int
    max: int  # 0: unlimited


@dataclass(frozen=True, slots=True)
class Counts:
    sessions: int
    tasks: int


# Connections one worker's pool may hold. redis-py 8 caps a pool at 100 unless told, and
# its pool does not wait: the 101st concurrent command failed at once (MaxConnectionsError,
# a 503), which the LLM-shaped load (150 streams per worker) reached. A connection is only
# opened when that many commands are in flight at once, and Redis allows 10,000 clients.
REDIS_MAX_CONNECTIONS = 1000


def make_redis_client(settings: Settings) -> redis.Redis:
    """A client that gives up fast: short timeouts and a few quick retries, so a dead
    Redis turns into a 503 in well under a second instead of a hung request."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    kwargs: dict[str, Any] = {}
    if settings.redis_username:
        kwargs["username"] = settings.redis_username
    if password:
        kwargs["password"] = password
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), settings.redis_retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
        health_check_interval=15,
        client_name="lucia",
        max_connections=REDIS_MAX_CONNECTIONS,
        **kwargs,
    )


class Store:
    def __init__(
        self,
        client: redis.Redis,
        settings: Settings,
        on_error: Callable[[str], None] = lambda operation: None,
        on_full: Callable[[], None] = lambda: None,
    ) -> None:
        self._redis = client
        self._session_ttl = settings.session_ttl_seconds
        self._oneshot_ttl = min(settings.oneshot_session_ttl_seconds,
                                settings.session_ttl_seconds)
        self._task_ttl = settings.task_ttl_seconds
        self._history_max = settings.history_max_messages
        self._retry_after = settings.storage_retry_after_seconds
        # One budget for a whole operation including retries: the caller must hear back.
        self._deadline = settings.redis_timeout_seconds * (settings.redis_retries + 1) + 0.5
        self._on_error = on_error
        self._on_full = on_full

    @asynccontextmanager
    async def _guard(self, operation: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._deadline):
                yield
        except OutOfMemoryError as exc:
            # Redis is reachable but at maxmemory (noeviction): say so, not "unavailable".
            self._on_error(operation)
            self._on_full()
            raise StorageFull("Redis is out of memory: nothing was written; retry later",
                              self._retry_after) from exc
        except (RedisError, OSError, TimeoutError) as exc:
            self._on_error(operation)
            raise RedisUnavailable(f"Redis is unavailable ({type(exc).__name__})") from exc

    def storage_full(self, message: str) -> StorageFull:
        return StorageFull(message, self._retry_after)

    async def ping(self) -> None:
        async with self._guard("ping"):
            await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    # --- capacity -----------------------------------------------------------------------

    async def memory(self) -> Memory:
        async with self._guard("memory"):
            info = await self._redis.info("memory")
        return Memory(int(info["used_memory"]), int(info.get("maxmemory", 0)))

    async def counts(self) -> Counts:
        """Live sessions and tasks, from the indexes after trimming what has expired
        (deletes are allowed even when Redis is out of memory)."""
        now = time.time()
        async with self._guard("counts"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.zremrangebyscore(SESSION_INDEX, "-inf", now)
            pipe.zremrangebyscore(TASK_INDEX, "-inf", now)
            pipe.zcard(SESSION_INDEX)
            pipe.zcard(TASK_INDEX)
            *_, sessions, tasks = await pipe.execute()
        return Counts(sessions, tasks)

    async def sessions_by_expiry(self, start: int, count: int) -> list[tuple[str, float]]:
        """Indexed sessions closest to expiry first: (id, expiry epoch seconds)."""
        async with self._guard("sessions_by_expiry"):
            rows = await self._redis.zrange(SESSION_INDEX, start, start + count - 1,
                                            withscores=True)
        # With withscores (and decode_responses) the reply is (member, score) pairs; the
        # client types it as a union of every shape ZRANGE can have.
        return cast(list[tuple[str, float]], rows)

    async def index_unindexed(self, pattern: str) -> int:
        """Add sessions missing from the index (stored before it existed), scored by when
        their keys expire. Returns how many were added."""
        added, cursor = 0, 0
        while True:
            # One guarded round trip per SCAN page: a big keyspace takes many.
            async with self._guard("index_unindexed"):
                cursor, found = await self._redis.scan(cursor, match=pattern, count=1000,
                                                       _type="hash")
                keys = [_text(key) for key in found]
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.ttl(key)
                ttls = await pipe.execute()
                now = time.time()
                fresh = {key.removeprefix(SESSION_PREFIX): now + ttl
                         for key, ttl in zip(keys, ttls, strict=True) if ttl > 0}
                if fresh:
                    # ZADD without INCR answers how many members it added.
                    added += int(await self._redis.zadd(SESSION_INDEX, fresh, nx=True) or 0)
            if cursor == 0:
                break
        return added

    async def last_accessed(self, session_ids: list[str]) -> list[str | None]:
        async with self._guard("last_accessed"):
            pipe = self._redis.pipeline(transaction=False)
            for session_id in session_ids:
                pipe.hget(session_key(session_id), "lastAccessedAt")
            return await pipe.execute()

    # --- sessions -----------------------------------------------------------------------

    async def load_history(self, session_id: str, last: int) -> list[dict[str, Any]]:
        """The `last` most recent messages of a session, oldest first; [] for a new one.

        Only what a turn uses as context is read and decoded: decoding the whole stored
        history every turn was the largest cost of a chat turn in the profile."""
        if last <= 0:
            return []
        async with self._guard("load_history"):
            raw = await self._redis.lrange(history_key(session_id), -last, -1)
        return [json.loads(item) for item in raw]

    async def session_exists(self, session_id: str) -> bool:
        async with self._guard("session_exists"):
            return bool(await self._redis.exists(session_key(session_id)))

    async def record_turn(
        self,
        session_id: str,
        entries: list[dict[str, Any]],
        now: str,
        task: dict[str, Any] | None = None,
        *,
        one_shot: bool = False,
    ) -> None:
        """Append a turn's entries, trim, refresh TTLs and save its task, atomically.

        A one-shot turn (its client sent no session id) opens a session that lives
        `oneshot_session_ttl_seconds`, and so does its task; continuing a session gives
        it the full TTL again."""
        skey, hkey, tkey = session_key(session_id), history_key(session_id), \
            tasks_key(session_id)
        ttl = self._oneshot_ttl if one_shot else self._session_ttl
        expires = time.time() + ttl
        async with self._guard("record_turn"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.rpush(hkey, *(json.dumps(entry, separators=(",", ":")) for entry in entries))
            pipe.ltrim(hkey, -self._history_max, -1)
            pipe.hsetnx(skey, "createdAt", now)
            pipe.hset(skey, "lastAccessedAt", now)
            pipe.expire(skey, ttl)
            pipe.expire(hkey, ttl)
            pipe.zadd(SESSION_INDEX, {session_id: expires})
            if task is not None:
                task_ttl = min(self._task_ttl, ttl)
                pipe.set(task_key(task["id"]), _dump(task), ex=task_ttl)
                pipe.zadd(TASK_INDEX, {task["id"]: time.time() + task_ttl})
                pipe.sadd(tkey, task["id"])
                # The set outlives its tasks by at most a TTL; it names only ids.
                pipe.expire(tkey, max(ttl, task_ttl))
            await pipe.execute()

    async def get_session(self, session_id: str, now: str) -> dict[str, Any]:
        skey, hkey = session_key(session_id), history_key(session_id)
        async with self._guard("get_session"):
            # Not MULTI: Redis refuses every queued command, reads too, once it is over
            # maxmemory, and a session must stay readable then. A turn's MULTI is atomic,
            # so the history read is whole either way.
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(skey)
            pipe.lrange(hkey, 0, -1)
            meta, raw = await pipe.execute()
        if not meta:
            raise SessionNotFound(f"session {session_id!r} does not exist")
        # Reading a session counts as using it: refresh its clock and TTL. A full Redis
        # refuses that write; the read still answers (the next turn refreshes both).
        with contextlib.suppress(StorageFull):
            async with self._guard("touch_session"):
                pipe = self._redis.pipeline(transaction=True)
                pipe.hset(skey, "lastAccessedAt", now)
                for key in (skey, hkey, tasks_key(session_id)):
                    pipe.expire(key, self._session_ttl)
                pipe.zadd(SESSION_INDEX, {session_id: time.time() + self._session_ttl})
                await pipe.execute()
        return {
            "sessionId": session_id,
            "createdAt": meta.get("createdAt", now),
            "lastAccessedAt": now,
            "history": [json.loads(item) for item in raw],
        }

    async def delete_session(self, session_id: str) -> None:
        if not await self.delete_sessions([session_id]):
            raise SessionNotFound(f"session {session_id!r} does not exist")

    async def delete_sessions(self, session_ids: list[str]) -> int:
        """Delete sessions with their history and their tasks (a task holds the turn's
        text, so keeping it would keep the conversation). Returns how many existed."""
        if not session_ids:
            return 0
        async with self._guard("delete_sessions"):
            pipe = self._redis.pipeline(transaction=False)
            for session_id in session_ids:
                pipe.exists(session_key(session_id))
                pipe.smembers(tasks_key(session_id))
            found = await pipe.execute()
            existed: int = sum(found[0::2])
            task_ids = [task_id for members in found[1::2] for task_id in members]
            # One DEL is atomic, and unlike MULTI it is allowed over maxmemory: deleting
            # is how space is freed. An index entry left by a failure here only makes a
            # count high until its expiry score passes.
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(*(key for session_id in session_ids
                          for key in (session_key(session_id), history_key(session_id),
                                      tasks_key(session_id))),
                        *(task_key(task_id) for task_id in task_ids))
            pipe.zrem(SESSION_INDEX, *session_ids)
            if task_ids:
                pipe.zrem(TASK_INDEX, *task_ids)
            await pipe.execute()
        return existed

    # --- tasks --------------------------------------------------------------------------

    async def get_task(self, task_id: str) -> dict[str, Any]:
        async with self._guard("get_task"):
            raw = await self._redis.get(task_key(task_id))
        if raw is None:
            raise TaskNotFound(f"task {task_id!r} does not exist")
        task: dict[str, Any] = json.loads(raw)
        return task

    async def save_task(self, task: dict[str, Any]) -> None:
        """Replace a stored task (a cancel), keeping the TTL it was given."""
        async with self._guard("save_task"):
            await self._redis.set(task_key(task["id"]), _dump(task), keepttl=True,
                                  xx=True)


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
