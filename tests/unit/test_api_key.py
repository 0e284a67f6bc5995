"""LUCIA_API_KEY: /api/* and /a2a/* need X-Api-Key; probes and docs stay open."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.unit.conftest import MakeClient, RedisKeys


@pytest.fixture
async def keyed_client(make_client: MakeClient) -> TestClient:
    return await make_client(api_key="correct-horse")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/agents"), ("POST", "/api/chat"), ("GET", "/api/sessions/x"),
    ("GET", "/api/tasks/x"), ("POST", "/a2a/orchestrator"),
])
@pytest.mark.parametrize("key", [None, "wrong", ""])
async def test_protected_paths_need_the_key(keyed_client: TestClient, method: str, path: str,
                                            key: str | None, redis_keys: RedisKeys) -> None:
    headers = {} if key is None else {"X-Api-Key": key}
    response = await keyed_client.request(method, path, json={"message": "hi"},
                                          headers=headers)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    assert redis_keys() == []


@pytest.mark.parametrize("path", ["/alive", "/health", "/metrics", "/openapi.json",
                                  "/.well-known/agent-card.json",
                                  "/a2a/light-agent/.well-known/agent-card.json"])
async def test_open_paths_need_no_key(keyed_client: TestClient, path: str) -> None:
    assert (await keyed_client.get(path)).status == 200


async def test_right_key_is_accepted(keyed_client: TestClient) -> None:
    response = await keyed_client.post("/api/chat", json={"message": "hi"},
                                       headers={"X-Api-Key": "correct-horse"})
    assert response.status == 200


async def test_no_key_configured_means_open(client: TestClient) -> None:
    assert (await client.get("/api/agents")).status == 200
