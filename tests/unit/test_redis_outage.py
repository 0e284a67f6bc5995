"""Redis down: 503 redis_unavailable within a second, nothing hangs; Redis back: the
same app recovers by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.unit.conftest import MakeClient

pytestmark = pytest.mark.slow


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


async def test_outage_answers_503_fast_and_recovers(make_client: MakeClient,
                                                    own_redis: RedisServer) -> None:
    client = await make_client(redis_url=own_redis.url)
    ok = await client.post("/api/chat", json={"message": "hello", "sessionId": "keep"})
    assert ok.status == 200

    own_redis.kill()
    for path, method in (("/api/chat", "POST"), ("/api/sessions/keep", "GET"),
                         ("/health", "GET")):
        started = time.perf_counter()
        response = await client.request(method, path, json={"message": "hello again"})
        elapsed = time.perf_counter() - started
        assert response.status == 503, path
        assert elapsed < 1.0, f"{method} {path} took {elapsed:.2f} s while Redis was down"
        if path != "/health":
            assert (await response.json())["error"]["code"] == "redis_unavailable"

    own_redis.start()
    started = time.perf_counter()
    while (await client.get("/health")).status != 200:
        assert time.perf_counter() - started < 5, "service did not recover within 5 s"
        await asyncio.sleep(0.1)
    print(f"recovered {time.perf_counter() - started:.2f} s after Redis came back")
    again = await client.post("/api/chat", json={"message": "back", "sessionId": "fresh"})
    assert again.status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'lucia_redis_errors_total{operation="record_turn"}' not in metrics
    assert 'lucia_redis_errors_total{operation="load_history"} 1.0' in metrics


async def test_more_concurrent_commands_than_redis_pys_default_pool_all_succeed(
        redis_server: RedisServer) -> None:
    """redis-py 8 caps a pool at 100 connections and fails the 101st command at once
    (MaxConnectionsError): a worker holding 150 streams reached it. The service's pool is
    sized so that its own concurrency never does."""
    from lucia.settings import Settings
    from lucia.store import REDIS_MAX_CONNECTIONS, Store, make_redis_client

    settings = Settings(redis_url=redis_server.url)
    client = make_redis_client(settings)
    store = Store(client, settings)
    try:
        assert client.connection_pool.max_connections == REDIS_MAX_CONNECTIONS
        await asyncio.gather(*(store.load_history(f"pool-{index}", 10) for index in range(300)))
    finally:
        await store.close()
