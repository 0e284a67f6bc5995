"""Every provider through the real openai SDK against the LLM simulator: the request
lands on the provider's path with its auth; failures map to 502/504; routing JSON is
retried once and then falls back to skills."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.conftest import MakeClient, RedisKeys, sim_url


async def sim_requests(client: TestClient, llm_sim: TestServer) -> list[dict[str, Any]]:
    async with client.session.get(f"{sim_url(llm_sim)}/sim/requests") as response:
        return await response.json()


async def configure(client: TestClient, llm_sim: TestServer, **config: Any) -> None:
    async with client.session.post(f"{sim_url(llm_sim)}/sim/config", json=config) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("provider", "path", "auth"),
    [
        ("openai", "/v1/chat/completions", "Bearer sim-key"),
        ("ollama", "/v1/chat/completions", "Bearer sim-key"),
        ("azureopenai", "/openai/deployments/sim-model/chat/completions", ""),
        ("azureaiinference", "/models/chat/completions", "Bearer sim-key"),
    ],
)
async def test_provider_reaches_its_endpoint_shape(
        make_client: MakeClient, llm_sim: TestServer, llm_connection: Callable[[str], str],
        provider: str, path: str, auth: str) -> None:
    client = await make_client(chat_model=llm_connection(provider))
    response = await client.post("/api/chat", json={"message": "tell me a joke"})
    reply = await response.json()
    assert response.status == 200, reply
    assert reply["agent"] == "general-assistant"
    assert reply["response"] == "(simulated model) You said: tell me a joke"
    seen = await sim_requests(client, llm_sim)
    assert [r["path"] for r in seen] == [path, path]  # routing call, then the answer
    assert seen[0]["authorization"] == auth
    if provider.startswith("azure"):
        assert seen[0]["apiKey"] == "sim-key"
        assert "api-version" in seen[0]["query"]
    assert seen[0]["body"]["model"] == "sim-model"


async def test_health_reports_a_configured_llm(make_client: MakeClient,
                                               llm_connection: Callable[[str], str]) -> None:
    client = await make_client(chat_model=llm_connection("openai"))
    body = await (await client.get("/health")).json()
    assert body["services"]["llm"] == "Configured"


async def test_llm_routing_picks_agents_and_general_answers_with_history(
        make_client: MakeClient, llm_connection: Callable[[str], str]) -> None:
    client = await make_client(chat_model=llm_connection("openai"))
    first = await (await client.post("/api/chat", json={"message": "my name is Alice"})).json()
    second = await (await client.post("/api/chat", json={
        "message": "what is my name?", "sessionId": first["sessionId"]})).json()
    lights = await (await client.post("/api/chat", json={"message": "dim the lamp"})).json()
    assert second["response"] == "Your name is Alice."
    assert lights["agent"] == "light-agent"


async def test_llm_5xx_is_502_llm_unavailable_and_writes_nothing(
        make_client: MakeClient, llm_sim: TestServer, llm_connection: Callable[[str], str],
        redis_keys: RedisKeys) -> None:
    client = await make_client(chat_model=llm_connection("openai"))
    await configure(client, llm_sim, fail_count=-1, fail_status=503)
    response = await client.post("/api/chat", json={"message": "hello", "sessionId": "s"})
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "llm_unavailable"
    assert redis_keys() == []


async def test_llm_timeout_is_504_llm_timeout(
        make_client: MakeClient, llm_sim: TestServer, llm_connection: Callable[[str], str],
        redis_keys: RedisKeys) -> None:
    client = await make_client(chat_model=llm_connection("openai"), llm_timeout_seconds=0.3)
    await configure(client, llm_sim, latency=2)
    response = await client.post("/api/chat", json={"message": "hello"})
    assert response.status == 504
    assert (await response.json())["error"]["code"] == "llm_timeout"
    assert redis_keys() == []
    metrics = await (await client.get("/metrics")).text()
    assert 'lucia_llm_errors_total{kind="timeout",operation="chat",provider="openai"} 1.0' \
        in metrics


async def test_malformed_routing_is_retried_once(
        make_client: MakeClient, llm_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    client = await make_client(chat_model=llm_connection("openai"))
    await configure(client, llm_sim, malformed_routing=1)
    reply = await (await client.post("/api/chat", json={"message": "turn on the lamp"})).json()
    task = await (await client.get(f"/api/tasks/{reply['taskId']}")).json()
    assert reply["agent"] == "light-agent"
    assert task["metadata"]["agents"] == ["light-agent"]
    routing_calls = [r for r in await sim_requests(client, llm_sim)
                     if "route" in r["body"]["messages"][0]["content"]]
    assert len(routing_calls) == 2


async def test_malformed_routing_twice_falls_back_to_skills(
        make_client: MakeClient, llm_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    client = await make_client(chat_model=llm_connection("openai"))
    await configure(client, llm_sim, malformed_routing=2)
    reply = await (await client.post("/api/chat", json={"message": "turn on the lamp"})).json()
    metrics = await (await client.get("/metrics")).text()
    assert reply["agent"] == "light-agent"
    assert 'lucia_routing_decisions_total{agent="light-agent",method="fallback"} 1.0' in metrics


async def test_unknown_agent_from_model_falls_back_to_general(
        make_client: MakeClient, llm_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    client = await make_client(chat_model=llm_connection("openai"))
    await configure(client, llm_sim, routing={"agentId": "toaster-agent", "confidence": 0.9,
                                              "reasoning": "toast"})
    reply = await (await client.post("/api/chat", json={"message": "make toast"})).json()
    assert reply["agent"] == "general-assistant"


async def test_low_confidence_asks_for_clarification(
        make_client: MakeClient, llm_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    client = await make_client(chat_model=llm_connection("openai"))
    await configure(client, llm_sim, routing={"agentId": "light-agent", "confidence": 0.2,
                                              "reasoning": "unsure"})
    reply = await (await client.post("/api/chat", json={"message": "do the thing"})).json()
    assert reply["agent"] == "general-assistant"
    assert reply["response"].startswith("I'm not sure what you'd like")


@pytest.fixture
async def both_agents_client(make_client: MakeClient, llm_sim: TestServer, ha_sim: TestServer,
                             llm_connection: Callable[[str], str]) -> TestClient:
    """The model routes every message to light-agent plus general-assistant."""
    client = await make_client(chat_model=llm_connection("openai"),
                               home_assistant_url=sim_url(ha_sim),
                               home_assistant_token="sim-ha-token", agent_timeout_seconds=0.5)
    await configure(client, llm_sim, routing={
        "agentId": "light-agent", "confidence": 0.9, "reasoning": "both",
        "additionalAgents": ["general-assistant"]})
    return client


async def test_multi_agent_partial_failure_names_the_failed_agent(
        both_agents_client: TestClient, llm_sim: TestServer) -> None:
    await configure(both_agents_client, llm_sim, scope="chat", fail_count=-1)
    response = await both_agents_client.post(
        "/api/chat", json={"message": "turn on the kitchen light"})
    reply = await response.json()
    task = await (await both_agents_client.get(f"/api/tasks/{reply['taskId']}")).json()
    assert response.status == 200
    assert reply["response"] == ("Turned on Kitchen Light.\n(General Assistant could not "
                                 "answer: the language model is unavailable.)")
    assert task["metadata"]["failedAgents"] == {
        "general-assistant": "the language model is unavailable"}


async def test_multi_agent_timeout_names_the_slow_agent(
        both_agents_client: TestClient, llm_sim: TestServer) -> None:
    await configure(both_agents_client, llm_sim, scope="chat", latency=1.5)
    reply = await (await both_agents_client.post(
        "/api/chat", json={"message": "turn on the kitchen light"})).json()
    assert reply["agent"] == "light-agent"
    assert reply["response"].endswith("(General Assistant could not answer: it timed out.)")


async def test_single_agent_timeout_is_504_agent_timeout(
        make_client: MakeClient, llm_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    client = await make_client(chat_model=llm_connection("openai"), agent_timeout_seconds=0.3)
    await configure(client, llm_sim, scope="chat", latency=1.5)
    response = await client.post("/api/chat", json={"message": "tell me a story"})
    assert response.status == 504
    assert (await response.json())["error"]["code"] == "agent_timeout"


async def test_the_sdk_keeps_every_connection_it_may_open_alive() -> None:
    """More streams than the SDK's default keep-alive pool (100) must not close and reopen
    connections on every turn (docs/service.md, "Streaming")."""
    from lucia.connection_string import parse_connection_string
    from lucia.llm import POOL_LIMITS, make_openai_client
    from lucia.settings import Settings

    conn = parse_connection_string(
        "Endpoint=http://127.0.0.1:9/v1;AccessKey=k;Model=m;Provider=openai")
    client = make_openai_client(conn, Settings())
    try:
        pool = client._client._transport._pool  # the httpx2 transport's httpcore2 pool
        assert pool._max_keepalive_connections == POOL_LIMITS.max_keepalive_connections
        assert pool._max_connections == POOL_LIMITS.max_connections == 1000
        assert client.timeout == Settings().llm_timeout_seconds
    finally:
        await client.close()
