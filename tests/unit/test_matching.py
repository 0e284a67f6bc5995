"""Entity matching: lexical by name, semantic by embeddings from the simulator, and a
lexical fallback when the embeddings model fails."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp.test_utils import TestClient, TestServer

from lucia.matching import Entity, lexical_matches
from tests.unit.conftest import MakeClient, sim_url

LIGHTS = [Entity("light.kitchen", "Kitchen Light", "off", {}),
          Entity("light.living_room", "Living Room Lamp", "off", {}),
          Entity("light.bedroom", "Bedroom Light", "on", {})]


def test_lexical_matches_by_distinctive_words() -> None:
    assert [e.entity_id for e in lexical_matches("turn on the kitchen light", LIGHTS)] == [
        "light.kitchen"]
    assert lexical_matches("turn on the lounge lamp", LIGHTS) == []


def test_lexical_prefers_the_best_overlap() -> None:
    found = lexical_matches("living room lamp please", LIGHTS)
    assert [e.entity_id for e in found] == ["light.living_room"]


async def semantic_client(make_client: MakeClient, ha_sim: TestServer,
                          llm_connection: Callable[[str], str]) -> TestClient:
    return await make_client(home_assistant_url=sim_url(ha_sim),
                             home_assistant_token="sim-ha-token",
                             embeddings_model=llm_connection("openai"))


async def test_semantic_match_finds_a_synonym(make_client: MakeClient, ha_sim: TestServer,
                                              llm_connection: Callable[[str], str]) -> None:
    client = await semantic_client(make_client, ha_sim, llm_connection)
    reply = await (await client.post("/api/chat",
                                     json={"message": "turn on the lounge lamp"})).json()
    assert reply["response"] == "Turned on Living Room Lamp."


async def test_without_embeddings_the_synonym_is_not_found(ha_client: TestClient) -> None:
    reply = await (await ha_client.post("/api/chat",
                                        json={"message": "turn on the lounge lamp"})).json()
    assert "couldn't find a light" in reply["response"]


async def test_unrelated_words_do_not_match_semantically(
        make_client: MakeClient, ha_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    client = await semantic_client(make_client, ha_sim, llm_connection)
    reply = await (await client.post("/api/chat",
                                     json={"message": "turn on the garage lamp"})).json()
    assert "couldn't find a light" in reply["response"]


async def test_embeddings_failure_falls_back_to_lexical(
        make_client: MakeClient, ha_sim: TestServer, llm_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    client = await semantic_client(make_client, ha_sim, llm_connection)
    await client.session.post(f"{sim_url(llm_sim)}/sim/config",
                              json={"fail_count": -1, "scope": "embeddings"})
    lexical = await (await client.post("/api/chat",
                                       json={"message": "turn on the kitchen light"})).json()
    semantic = await (await client.post("/api/chat",
                                        json={"message": "turn on the lounge lamp"})).json()
    assert lexical["response"] == "Turned on Kitchen Light."
    assert semantic["response"].startswith("I couldn't find a light")
