"""/alive and /health: Healthy, Degraded when Home Assistant is down, Unhealthy (503)
when Redis is down, and always within a second."""

from __future__ import annotations

import time

from aiohttp.test_utils import TestClient, TestServer

from lucia_sims import homeassistant
from tests.support.redis_server import free_port
from tests.unit.conftest import MakeClient, sim_url


async def test_alive_answers_without_dependencies(make_client: MakeClient) -> None:
    client = await make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = await client.get("/alive")
    assert response.status == 200
    assert (await response.json())["status"] == "Alive"


async def test_health_is_healthy_with_redis_and_no_home_assistant(client: TestClient) -> None:
    response = await client.get("/health")
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "Healthy"
    assert body["services"] == {"redis": "Connected", "homeAssistant": "NotConfigured",
                                "llm": "Offline", "storage": "Ok"}
    assert body["reasons"] == []
    assert body["version"]
    assert body["timestamp"].endswith("Z")


async def test_health_reports_home_assistant_connected(ha_client: TestClient) -> None:
    body = await (await ha_client.get("/health")).json()
    assert body["status"] == "Healthy"
    assert body["services"]["homeAssistant"] == "Connected"


async def test_health_is_degraded_when_home_assistant_is_unreachable(
        make_client: MakeClient) -> None:
    client = await make_client(home_assistant_url=f"http://127.0.0.1:{free_port()}",
                               home_assistant_token="t")
    response = await client.get("/health")
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "Degraded"
    assert body["services"]["homeAssistant"] == "Disconnected"


async def test_health_is_degraded_when_home_assistant_rejects_the_token(
        make_client: MakeClient, ha_sim: TestServer) -> None:
    client = await make_client(home_assistant_url=sim_url(ha_sim),
                               home_assistant_token="wrong")
    body = await (await client.get("/health")).json()
    assert body["status"] == "Degraded"


async def test_health_is_unhealthy_503_when_redis_is_down(make_client: MakeClient) -> None:
    client = await make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = await client.get("/health")
    body = await response.json()
    assert response.status == 503
    assert body["status"] == "Unhealthy"
    assert body["services"]["redis"] == "Disconnected"


async def test_health_answers_within_a_second_when_home_assistant_hangs(
        make_client: MakeClient, ha_sim: TestServer) -> None:
    client = await make_client(home_assistant_url=sim_url(ha_sim),
                               home_assistant_token=homeassistant.DEFAULT_TOKEN)
    await client.session.post(f"{sim_url(ha_sim)}/sim/config", json={"latency": 5})
    started = time.perf_counter()
    response = await client.get("/health")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"/health took {elapsed:.2f} s with a hanging Home Assistant"
    assert (await response.json())["status"] == "Degraded"


async def test_health_result_is_reused_within_its_max_age(make_client: MakeClient,
                                                          ha_sim: TestServer) -> None:
    client = await make_client(home_assistant_url=sim_url(ha_sim), health_cache_seconds=30,
                               home_assistant_token=homeassistant.DEFAULT_TOKEN)
    first = await (await client.get("/health")).json()
    await client.session.post(f"{sim_url(ha_sim)}/sim/config", json={"latency": 5})
    started = time.perf_counter()
    second = await (await client.get("/health")).json()
    assert time.perf_counter() - started < 0.5
    assert first["services"] == second["services"]
    assert second["services"]["homeAssistant"] == "Connected"


async def test_health_cache_zero_checks_every_time(make_client: MakeClient,
                                                   ha_sim: TestServer) -> None:
    client = await make_client(home_assistant_url=sim_url(ha_sim), health_cache_seconds=0,
                               home_assistant_token=homeassistant.DEFAULT_TOKEN)
    assert (await (await client.get("/health")).json())["status"] == "Healthy"
    await client.session.post(f"{sim_url(ha_sim)}/sim/config", json={"latency": 5})
    assert (await (await client.get("/health")).json())["status"] == "Degraded"
