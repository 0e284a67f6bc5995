"""Sessions, conversation history and A2A tasks in Redis.

Keys (all with TTLs):
  lucia:session:{id}          hash: createdAt, lastAccessedAt
  lucia:session:{id}:history  list of JSON history entries, newest last, trimmed
  lucia:task:{id}             JSON A2A task

A chat turn is written in one MULTI/EXEC, so a session never holds a user message
without its reply. Every Redis failure becomes `RedisUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lucia.errors import RedisUnavailable, SessionNotFound, TaskNotFound
from lucia.settings import Settings

SESSION_PREFIX = "lucia:session:"
TASK_PREFIX = "lucia:task:"


def session_key(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}"


def history_key(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}:history"


def task_key(task_id: str) -> str:
    return f"{TASK_PREFIX}{task_id}"


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
        **kwargs,
    )


class Store:
    def __init__(
        self,
        client: redis.Redis,
        settings: Settings,
        on_error: Callable[[str], None] = lambda operation: None,
    ) -> None:
        self._redis = client
        self._session_ttl = settings.session_ttl_seconds
        self._task_ttl = settings.task_ttl_seconds
        self._history_max = settings.history_max_messages
        # One budget for a whole operation including retries: the caller must hear back.
        self._deadline = settings.redis_timeout_seconds * (settings.redis_retries + 1) + 0.5
        self._on_error = on_error

    @asynccontextmanager
    async def _guard(self, operation: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._deadline):
                yield
        except (RedisError, OSError, TimeoutError) as exc:
            self._on_error(operation)
            raise RedisUnavailable(f"Redis is unavailable ({type(exc).__name__})") from exc

    async def ping(self) -> None:
        async with self._guard("ping"):
            await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

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

    async def record_turn(
        self,
        session_id: str,
        entries: list[dict[str, Any]],
        now: str,
        task: dict[str, Any] | None = None,
    ) -> None:
        """Append a turn's entries, trim, refresh TTLs and save its task, atomically."""
        skey, hkey = session_key(session_id), history_key(session_id)
        async with self._guard("record_turn"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.rpush(hkey, *(json.dumps(entry, separators=(",", ":")) for entry in entries))
            pipe.ltrim(hkey, -self._history_max, -1)
            pipe.hsetnx(skey, "createdAt", now)
            pipe.hset(skey, "lastAccessedAt", now)
            pipe.expire(skey, self._session_ttl)
            pipe.expire(hkey, self._session_ttl)
            if task is not None:
                pipe.set(task_key(task["id"]), _dump(task), ex=self._task_ttl)
            await pipe.execute()

    async def get_session(self, session_id: str, now: str) -> dict[str, Any]:
        skey, hkey = session_key(session_id), history_key(session_id)
        async with self._guard("get_session"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hgetall(skey)
            pipe.lrange(hkey, 0, -1)
            meta, raw = await pipe.execute()
            if not meta:
                raise SessionNotFound(f"session {session_id!r} does not exist")
            # Reading a session counts as using it: refresh its clock and TTL.
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(skey, "lastAccessedAt", now)
            pipe.expire(skey, self._session_ttl)
            pipe.expire(hkey, self._session_ttl)
            await pipe.execute()
        return {
            "sessionId": session_id,
            "createdAt": meta.get("createdAt", now),
            "lastAccessedAt": now,
            "history": [json.loads(item) for item in raw],
        }

    async def delete_session(self, session_id: str) -> None:
        async with self._guard("delete_session"):
            removed = await self._redis.delete(session_key(session_id), history_key(session_id))
        if not removed:
            raise SessionNotFound(f"session {session_id!r} does not exist")

    # --- tasks --------------------------------------------------------------------------

    async def get_task(self, task_id: str) -> dict[str, Any]:
        async with self._guard("get_task"):
            raw = await self._redis.get(task_key(task_id))
        if raw is None:
            raise TaskNotFound(f"task {task_id!r} does not exist")
        return json.loads(raw)

    async def save_task(self, task: dict[str, Any]) -> None:
        async with self._guard("save_task"):
            await self._redis.set(task_key(task["id"]), _dump(task), ex=self._task_ttl)


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
