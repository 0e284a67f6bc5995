"""/health probes the LLM: one cheap GET per provider, cached with the other checks; an
LLM that cannot be reached, refuses the key or fails shows as Unreachable and makes the
service (and the agents that need it) Degraded, never Unhealthy."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.support.redis_server import free_port
from tests.unit import llm_double
from tests.unit.conftest import MakeClient, sim_url

MakeDouble = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def make_double(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> MakeDouble:
    async def make(**config: Any) -> TestServer:
        return await aiohttp_server(llm_double.make_app(**config))
    return make


def hits(double: TestServer) -> list[dict[str, Any]]:
    return double.app[llm_double.HITS]


async def health(client: TestClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health")
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("provider", "path", "query", "auth", "api_key"),
    [
        ("openai", "/v1/models", {}, "Bearer double-key", ""),
        ("ollama", "/v1/models", {}, "Bearer double-key", ""),
        ("azureopenai", "/openai/models", {"api-version": "2024-10-21"}, "", "double-key"),
        ("azureaiinference", "/models/info", {"api-version": "2024-05-01-preview"},
         "Bearer double-key", "double-key"),
    ],
)
async def test_each_provider_is_probed_on_its_documented_path(
        make_client: MakeClient, make_double: MakeDouble, provider: str, path: str,
        query: dict[str, str], auth: str, api_key: str) -> None:
    double = await make_double()
    client = await make_client(
        chat_model=llm_double.connection(sim_url(double), provider))
    status, body = await health(client)
    assert (status, body["status"], body["services"]["llm"]) == (200, "Healthy", "Configured")
    assert body["reasons"] == []
    [hit] = hits(double)
    assert (hit["path"], hit["query"]) == (path, query)
    assert (hit["authorization"], hit["apiKey"]) == (auth, api_key)


async def test_an_unreachable_llm_makes_the_service_degraded_not_unhealthy(
        make_client: MakeClient) -> None:
    client = await make_client(
        chat_model=llm_double.connection(f"http://127.0.0.1:{free_port()}"))
    status, body = await health(client)
    assert (status, body["status"]) == (200, "Degraded")
    assert body["services"] == {"redis": "Connected", "homeAssistant": "NotConfigured",
                                "llm": "Unreachable", "storage": "Ok"}
    [reason] = body["reasons"]
    assert reason.startswith("llm: not reachable (")
    assert "llm_unavailable" in reason


@pytest.mark.parametrize(("status", "llm"), [
    (401, "Unreachable"), (403, "Unreachable"), (500, "Unreachable"), (503, "Unreachable"),
    # The server answered: it only lists no models, and chat calls would work.
    (404, "Configured"), (405, "Configured"),
])
async def test_the_answer_decides_whether_the_llm_counts_as_reachable(
        make_client: MakeClient, make_double: MakeDouble, status: int, llm: str) -> None:
    double = await make_double(status=status)
    client = await make_client(chat_model=llm_double.connection(sim_url(double)))
    _, body = await health(client)
    assert body["services"]["llm"] == llm
    assert body["status"] == ("Healthy" if llm == "Configured" else "Degraded")
    assert len(hits(double)) == 1, "a failed probe must not be retried"


async def test_a_hanging_llm_is_unreachable_within_a_second(
        make_client: MakeClient, make_double: MakeDouble) -> None:
    double = await make_double(latency=5)
    client = await make_client(chat_model=llm_double.connection(sim_url(double)))
    started = time.perf_counter()
    status, body = await health(client)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"/health took {elapsed:.2f} s with a hanging LLM"
    assert (status, body["services"]["llm"]) == (200, "Unreachable")
    assert "no answer within" in body["reasons"][0]


async def test_the_probe_is_cached_with_the_other_checks(
        make_client: MakeClient, make_double: MakeDouble) -> None:
    double = await make_double()
    client = await make_client(chat_model=llm_double.connection(sim_url(double)),
                               health_cache_seconds=30)
    for _ in range(5):
        assert (await health(client))[1]["services"]["llm"] == "Configured"
    assert len(hits(double)) == 1


async def test_with_no_cache_every_health_probes_again_and_sees_recovery(
        make_client: MakeClient, make_double: MakeDouble) -> None:
    double = await make_double(status=503)
    client = await make_client(chat_model=llm_double.connection(sim_url(double)),
                               health_cache_seconds=0)
    assert (await health(client))[1]["services"]["llm"] == "Unreachable"
    double.app[llm_double.CONFIG]["status"] = 200
    assert (await health(client))[1]["services"]["llm"] == "Configured"
    assert len(hits(double)) == 2


async def test_the_offline_model_needs_no_probe(client: TestClient) -> None:
    _, body = await health(client)
    assert (body["status"], body["services"]["llm"]) == ("Healthy", "Offline")


async def test_agents_that_need_the_llm_are_degraded_when_it_is_unreachable(
        make_client: MakeClient, ha_sim: TestServer) -> None:
    client = await make_client(
        chat_model=llm_double.connection(f"http://127.0.0.1:{free_port()}"),
        home_assistant_url=sim_url(ha_sim), home_assistant_token="sim-ha-token")
    statuses = {}
    for agent in ("orchestrator", "general-assistant", "light-agent", "climate-agent"):
        response = await client.get(f"/api/agents/{agent}/health")
        assert response.status == 200
        statuses[agent] = (await response.json())["status"]
    assert statuses == {"orchestrator": "Degraded", "general-assistant": "Degraded",
                        "light-agent": "Healthy", "climate-agent": "Healthy"}
