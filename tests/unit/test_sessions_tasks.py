"""Sessions and tasks: read, delete, 404s, malformed ids, TTLs on every key."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp.test_utils import TestClient

from tests.support.redis_server import RedisServer


async def test_get_session_returns_history_and_times(client: TestClient) -> None:
    reply = await (await client.post("/api/chat", json={"message": "hello"})).json()
    session = await (await client.get(f"/api/sessions/{reply['sessionId']}")).json()
    assert session["sessionId"] == reply["sessionId"]
    assert session["createdAt"] <= session["lastAccessedAt"]
    assert session["history"][0] == {"role": "user", "content": "hello",
                                     "timestamp": reply["timestamp"]}


async def test_delete_session_forgets_it_and_its_tasks(
        client: TestClient, redis_keys: Callable[[], list[str]]) -> None:
    """A task holds the turn's text, so deleting the conversation deletes its tasks too,
    and nothing of the session is left in Redis (indexes included)."""
    reply = await (await client.post("/api/chat", json={"message": "hello",
                                                        "sessionId": "s-1"})).json()
    assert f"lucia:task:{reply['taskId']}" in redis_keys()
    deleted = await client.delete("/api/sessions/s-1")
    again = await client.get("/api/sessions/s-1")
    task = await client.get(f"/api/tasks/{reply['taskId']}")
    assert deleted.status == 204
    assert again.status == 404
    assert (await again.json())["error"]["code"] == "session_not_found"
    assert task.status == 404
    assert redis_keys() == []


async def test_delete_unknown_session_is_404(client: TestClient) -> None:
    response = await client.delete("/api/sessions/never-was")
    assert response.status == 404


async def test_session_id_is_validated_on_read(client: TestClient) -> None:
    response = await client.get("/api/sessions/" + "a" * 129)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_session_id"


async def test_task_is_an_a2a_task_of_the_turn(client: TestClient) -> None:
    reply = await (await client.post("/api/chat", json={"message": "hello"})).json()
    task = await (await client.get(f"/api/tasks/{reply['taskId']}")).json()
    assert task["kind"] == "task"
    assert task["id"] == reply["taskId"]
    assert task["contextId"] == reply["sessionId"]
    assert task["status"]["state"] == "completed"
    assert [m["role"] for m in task["history"]] == ["user", "agent"]
    assert task["artifacts"][0]["parts"][0]["text"] == reply["response"]


async def test_unknown_task_is_404(client: TestClient) -> None:
    response = await client.get("/api/tasks/nope")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "task_not_found"


async def test_every_key_has_a_ttl(make_client, redis_server: RedisServer) -> None:
    client = await make_client(session_ttl_seconds=600, task_ttl_seconds=300)
    await client.post("/api/chat", json={"message": "hello", "sessionId": "ttl"})
    with redis_server.client() as redis:
        ttls = {key: redis.ttl(key) for key in redis.keys("*")}
    assert 590 <= ttls["lucia:session:ttl"] <= 600
    assert 590 <= ttls["lucia:session:ttl:history"] <= 600
    task_ttls = [t for k, t in ttls.items() if k.startswith("lucia:task:")]
    assert len(task_ttls) == 1
    assert 290 <= task_ttls[0] <= 300
