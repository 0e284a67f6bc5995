"""Redis capacity (docs/capacity.md) against a real redis-server: one-shot TTLs, the high
watermark, refusing new sessions while existing ones continue, out of memory, recovery
by itself, the prune-idle policy and the storage metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as sync_redis
from aiohttp.test_utils import TestClient

from tests.support.redis_server import RedisServer
from tests.unit.conftest import MakeClient
from tests.unit.test_a2a import rpc, send

STORAGE = {"storage_check_seconds": 0, "health_cache_seconds": 0}

@pytest.fixture
def admin(redis_server: RedisServer, redis_url: str) -> Iterator[sync_redis.Redis]:
    with redis_server.client() as client:
        yield client
        client.config_set("maxmemory", RedisServer.MAXMEMORY)

def set_fill(admin: sync_redis.Redis, ratio: float) -> None:
    """Make Redis `ratio` full by moving maxmemory (below 1: headroom; above 1: over)."""
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", max(1, int(used / ratio)))

async def chat(client: TestClient, message: str, session_id: str | None = None
               ) -> tuple[int, dict[str, Any], Any]:
    body: dict[str, Any] = {"message": message}
    if session_id is not None:
        body["sessionId"] = session_id
    response = await client.post("/api/chat", json=body)
    return response.status, await response.json(), response.headers

async def health(client: TestClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health")
    return response.status, await response.json()

async def test_one_shot_sessions_and_their_tasks_get_the_short_ttl(
        make_client: MakeClient, admin: sync_redis.Redis) -> None:
    client = await make_client(oneshot_session_ttl_seconds=600, session_ttl_seconds=86400,
                               task_ttl_seconds=86400)
    _, one_shot, _ = await chat(client, "hello")
    sid, task = one_shot["sessionId"], one_shot["taskId"]
    for key in (f"lucia:session:{sid}", f"lucia:session:{sid}:history",
                f"lucia:task:{task}"):
        assert 0 < admin.ttl(key) <= 600, key
    # Continuing it makes it a conversation: the full TTL from then on.
    await chat(client, "and again", sid)
    assert admin.ttl(f"lucia:session:{sid}") > 600
    _, conversation, _ = await chat(client, "hello", "a-conversation")
    assert admin.ttl("lucia:session:a-conversation") > 600
    assert admin.ttl(f"lucia:task:{conversation['taskId']}") > 600

async def test_high_watermark_refuses_new_sessions_and_keeps_existing_ones(
        make_client: MakeClient, admin: sync_redis.Redis) -> None:
    client = await make_client(storage_retry_after_seconds=17, **STORAGE)
    assert (await chat(client, "my name is Alice", "existing"))[0] == 200
    status, body = await health(client)
    assert (status, body["status"], body["services"]["storage"]) == (200, "Healthy", "Ok")

    set_fill(admin, 0.9)
    status, body = await health(client)
    assert (status, body["status"], body["services"]["storage"]) == (200, "Degraded", "High")
    assert any("watermark 80%" in reason for reason in body["reasons"]), body["reasons"]

    for session_id in (None, "a-new-one"):
        status, refused, headers = await chat(client, "hello", session_id)
        assert status == 503
        assert refused["error"]["code"] == "storage_full"
        assert headers["Retry-After"] == "17"
    assert admin.exists("lucia:session:a-new-one") == 0

    status, reply, _ = await chat(client, "what is my name?", "existing")
    assert status == 200
    assert "Alice" in reply["response"]
    history = (await (await client.get("/api/sessions/existing")).json())["history"]
    assert len(history) == 4

    metrics = await (await client.get("/metrics")).text()
    assert "lucia_storage_refusals_total 2.0" in metrics
    assert 'lucia_storage_state{state="High"} 1.0' in metrics

async def test_a2a_new_context_is_refused_with_retry_after(
        make_client: MakeClient, admin: sync_redis.Redis) -> None:
    client = await make_client(**STORAGE)
    set_fill(admin, 0.9)
    reply = await rpc(client, send("hello"))
    assert reply["error"]["code"] == -32603
    assert reply["error"]["data"] == {"code": "storage_full", "retryAfter": 30}

async def test_out_of_memory_is_unhealthy_and_storage_full_then_recovers_by_itself(
        make_client: MakeClient, admin: sync_redis.Redis) -> None:
    client = await make_client(**STORAGE)
    assert (await chat(client, "hello", "existing"))[0] == 200
    history_before = admin.lrange("lucia:session:existing:history", 0, -1)

    set_fill(admin, 1.5)  # used memory is over maxmemory: Redis refuses every write
    status, body = await health(client)
    assert (status, body["status"], body["services"]["storage"]) == (503, "Unhealthy", "Full")
    assert body["services"]["redis"] == "Connected"
    status, failed, headers = await chat(client, "hello again", "existing")
    assert (status, failed["error"]["code"]) == (503, "storage_full")
    assert "Retry-After" in headers
    assert admin.lrange("lucia:session:existing:history", 0, -1) == history_before
    # Reading still works when full (its TTL refresh is the write that gives way).
    read = await client.get("/api/sessions/existing")
    assert read.status == 200
    assert len((await read.json())["history"]) == 2

    # Deleting works over maxmemory: it is how a client frees space.
    assert (await chat(client, "hello", "to-delete"))[0] == 503  # new: refused
    admin.config_set("maxmemory", RedisServer.MAXMEMORY)
    assert (await chat(client, "hello", "to-delete"))[0] == 200
    set_fill(admin, 1.5)
    assert (await client.delete("/api/sessions/to-delete")).status == 204
    assert admin.exists("lucia:session:to-delete") == 0

    admin.config_set("maxmemory", RedisServer.MAXMEMORY)  # space freed
    status, body = await health(client)
    assert (status, body["status"], body["services"]["storage"]) == (200, "Healthy", "Ok")
    assert (await chat(client, "hello", "a-new-one"))[0] == 200

async def test_a_refused_write_is_seen_at_once_despite_the_cache(
        make_client: MakeClient, admin: sync_redis.Redis) -> None:
    """Redis refused a write: the next /health measures again instead of answering the
    cached Ok from before the wall (both caches hold for 30 s here)."""
    client = await make_client(storage_check_seconds=30, health_cache_seconds=30)
    assert (await chat(client, "hello", "existing"))[0] == 200
    assert (await health(client))[1]["services"]["storage"] == "Ok"
    set_fill(admin, 1.5)
    assert (await health(client))[1]["services"]["storage"] == "Ok"  # the cache holds
    assert (await chat(client, "hello again", "existing"))[0] == 503
    status, body = await health(client)
    assert (status, body["services"]["storage"]) == (503, "Full")

async def test_prune_idle_policy_deletes_the_sessions_closest_to_expiry(
        make_client: MakeClient, admin: sync_redis.Redis) -> None:
    client = await make_client(storage_full_policy="prune-idle", **STORAGE)
    assert (await chat(client, "my name is Alice", "keeper"))[0] == 200
    for index in range(40):  # one-shot: the shortest TTL, so the first to go
        assert (await chat(client, f"filler {index} " + "x" * 3900))[0] == 200
    sessions = admin.zcard("lucia:index:sessions")
    set_fill(admin, 0.85)  # above the watermark; pruning the fillers gets it below

    status, _, _ = await chat(client, "hello", "new-after-prune")
    assert status == 200
    assert admin.zcard("lucia:index:sessions") < sessions
    assert admin.exists("lucia:session:keeper") == 1
    metrics = await (await client.get("/metrics")).text()
    pruned = next(line for line in metrics.splitlines()
                  if line.startswith("lucia_sessions_pruned_total "))
    assert float(pruned.split()[1]) >= 1

async def test_metrics_expose_memory_and_key_counts(make_client: MakeClient,
                                                    admin: sync_redis.Redis) -> None:
    client = await make_client(**STORAGE)
    for session_id in ("a", "b", "c"):
        await chat(client, "hello", session_id)
    await chat(client, "again", "a")
    await client.delete("/api/sessions/b")
    metrics = await (await client.get("/metrics")).text()

    def value(name: str) -> float:
        line = next(line for line in metrics.splitlines() if line.startswith(name + " "))
        return float(line.split()[1])
    assert value('lucia_redis_keys{kind="session"}') == 2
    assert value('lucia_redis_keys{kind="task"}') == 3
    assert value("lucia_redis_memory_max_bytes") == 256 * 1024 * 1024
    assert 0 < value("lucia_redis_memory_used_bytes") == pytest.approx(
        admin.info("memory")["used_memory"], rel=0.2)

async def test_expired_sessions_leave_the_index(make_client: MakeClient,
                                                admin: sync_redis.Redis) -> None:
    client = await make_client(**STORAGE)
    await chat(client, "hello", "soon-gone")
    admin.zadd("lucia:index:sessions", {"soon-gone": 1.0})  # as if it expired in 1970
    metrics = await (await client.get("/metrics")).text()
    assert 'lucia_redis_keys{kind="session"} 0.0' in metrics
    assert admin.zscore("lucia:index:sessions", "soon-gone") is None

def test_classify() -> None:
    from lucia.capacity import FULL, HIGH, OK, UNKNOWN, classify
    from lucia.store import Memory
    assert classify(Memory(used=10, max=0), 0.8) == UNKNOWN
    assert classify(Memory(used=79, max=100), 0.8) == OK
    assert classify(Memory(used=80, max=100), 0.8) == HIGH
    assert classify(Memory(used=100, max=100), 0.8) == FULL
    # A refusal above the watermark is the wall, whatever the figures say after it...
    assert classify(Memory(used=95, max=100), 0.8, refused_recently=True) == FULL
    # ...but not once space below the watermark was freed.
    assert classify(Memory(used=50, max=100), 0.8, refused_recently=True) == OK
