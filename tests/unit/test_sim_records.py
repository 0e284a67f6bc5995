"""The simulators keep a bounded record: under sustained load they must not grow without
limit (an unbounded list got the dev stack's LLM simulator OOM-killed once a minute)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from lucia_sims import homeassistant, openai_compatible

Client = Callable[[Application], Awaitable[TestClient]]


async def test_llm_simulator_keeps_only_the_newest_requests(aiohttp_client: Client) -> None:
    client = await aiohttp_client(openai_compatible.make_app())
    total = openai_compatible.RECORD_LIMIT + 25
    for index in range(total):
        response = await client.post("/v1/embeddings", json={"model": "m",
                                                             "input": f"text {index}"})
        assert response.status == 200
    recorded = await (await client.get("/sim/requests")).json()
    assert len(recorded) == openai_compatible.RECORD_LIMIT
    assert recorded[-1]["body"]["input"] == f"text {total - 1}"
    assert recorded[0]["body"]["input"] == f"text {total - openai_compatible.RECORD_LIMIT}"
    await client.post("/sim/reset")
    assert await (await client.get("/sim/requests")).json() == []


async def test_home_assistant_simulator_keeps_only_the_newest_calls(
        aiohttp_client: Client) -> None:
    client = await aiohttp_client(homeassistant.make_app("token"))
    auth = {"Authorization": "Bearer token"}
    total = homeassistant.RECORD_LIMIT + 5
    for index in range(total):
        response = await client.post("/api/services/light/turn_on", headers=auth,
                                     json={"entity_id": "light.kitchen", "brightness": index})
        assert response.status == 200
    calls = await (await client.get("/sim/calls")).json()
    assert len(calls) == homeassistant.RECORD_LIMIT
    assert calls[-1]["data"]["brightness"] == total - 1


async def test_llm_simulator_answers_every_providers_probe_and_can_fail_it(
        aiohttp_client: Client) -> None:
    client = await aiohttp_client(openai_compatible.make_app())
    for path in ("/v1/models", "/openai/models", "/models/info"):
        assert (await client.get(path)).status == 200, path
    # A failure scoped to chat calls never reaches the probe, and the reverse.
    await client.post("/sim/config", json={"fail_count": 1, "scope": "chat"})
    assert (await client.get("/v1/models")).status == 200
    await client.post("/sim/config", json={"fail_count": -1, "fail_status": 503,
                                           "scope": "probe"})
    assert (await client.get("/v1/models")).status == 503
    response = await client.post("/v1/embeddings", json={"model": "m", "input": "x"})
    assert response.status == 200
    assert [r["path"] for r in await (await client.get("/sim/requests")).json()] == \
        ["/v1/embeddings"]
