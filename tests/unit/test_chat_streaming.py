"""POST /api/chat with `Accept: text/event-stream`: the reply as server-sent events through
the openai SDK's streaming, against the LLM simulator streaming tokens with a time to first
token and a delay per token. `token` events, then `done` with the JSON answer's fields;
what fails before the first event is the JSON error, what breaks after it is an `error`
event; a turn is stored only when its stream completes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from lucia.agents.general import stripped
from lucia.app import create_app
from lucia.settings import Settings
from lucia_sims import homeassistant
from lucia_sims.openai_compatible import tokens
from tests.support.redis_server import RedisServer
from tests.unit.conftest import MakeClient, RedisKeys, sim_url
from tests.unit.sse_reader import Event, names, read_event, read_events
from tests.unit.test_llm_providers import configure, sim_requests

SSE = {"Accept": "text/event-stream"}
DRY = {"X-Lucia-Dry-Run": "true"}
JOKE = "(simulated model) You said: tell me a joke"


@pytest.fixture
async def llm_client(make_client: MakeClient, llm_connection: Callable[[str], str],
                     ha_sim: TestServer) -> TestClient:
    """The service with the LLM simulator as its model and the Home Assistant simulator."""
    return await make_client(chat_model=llm_connection("openai"),
                             home_assistant_url=sim_url(ha_sim),
                             home_assistant_token=homeassistant.DEFAULT_TOKEN)


async def stream_chat(client: TestClient, message: str, headers: dict[str, str] | None = None,
                      **body: Any) -> list[Event]:
    started = time.perf_counter()
    response = await client.post("/api/chat", json={"message": message, **body},
                                 headers={**SSE, **(headers or {})})
    return await read_events(response, started)


async def plain_chat(client: TestClient, message: str,
                     headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.post("/api/chat", json={"message": message}, headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


def text_of(events: list[Event]) -> str:
    return "".join(event.data["text"] for event in events if event.name == "token")


async def metrics(client: TestClient) -> str:
    return await (await client.get("/metrics")).text()


async def test_stream_sends_each_token_then_done_with_the_json_answers_fields(
        llm_client: TestClient, llm_sim: TestServer) -> None:
    events = await stream_chat(llm_client, "tell me a joke")
    plain = await plain_chat(llm_client, "tell me a joke")

    assert names(events) == ["token"] * len(tokens(JOKE)) + ["done"]
    assert [event.data for event in events[:-1]] == [{"text": t} for t in tokens(JOKE)]
    done = events[-1].data
    assert set(done) == set(plain) == {"response", "sessionId", "timestamp", "agent", "taskId"}
    assert text_of(events) == done["response"] == plain["response"] == JOKE
    assert done["agent"] == plain["agent"] == "general-assistant"
    # Routing stays one JSON call; the answer is streamed; the JSON turn streams nothing.
    assert [r["body"].get("stream") for r in await sim_requests(llm_client, llm_sim)] == \
        [None, True, None, None]
    text = await metrics(llm_client)
    assert 'lucia_streams_total{outcome="completed",transport="chat"} 1.0' in text
    assert 'lucia_stream_first_token_seconds_count{transport="chat"} 1.0' in text
    assert 'lucia_llm_time_to_first_token_seconds_count{provider="openai"} 1.0' in text


async def test_a_completed_stream_is_stored_as_the_json_turn_is(llm_client: TestClient) -> None:
    done = (await stream_chat(llm_client, "tell me a joke", sessionId="streamed"))[-1].data
    session = await (await llm_client.get("/api/sessions/streamed")).json()
    task = await (await llm_client.get(f"/api/tasks/{done['taskId']}")).json()
    assert [(e["role"], e["content"]) for e in session["history"]] == [
        ("user", "tell me a joke"), ("assistant", JOKE)]
    assert session["history"][1]["timestamp"] == done["timestamp"]
    assert task["status"] == {"state": "completed", "timestamp": done["timestamp"]}
    assert task["artifacts"][0]["parts"] == [{"kind": "text", "text": JOKE}]
    assert task["contextId"] == done["sessionId"] == "streamed"


async def test_tokens_reach_the_client_while_the_llm_is_still_generating(
        llm_client: TestClient, llm_sim: TestServer) -> None:
    ttft, delay, count = 0.4, 0.1, 10
    generation = ttft + delay * (count - 1)  # 1.3 s from the answer's request to its end
    await configure(llm_client, llm_sim, scope="chat", ttft=ttft, token_delay=delay,
                    reply_tokens=count)
    events = await stream_chat(llm_client, "tell me a joke")
    first, last_token, done = events[0].at, events[-2].at, events[-1].at
    started = time.perf_counter()
    await plain_chat(llm_client, "tell me a joke")
    plain = time.perf_counter() - started
    print(f"\nsimulator ttft {ttft} s, {count} tokens {delay} s apart ({generation} s): "
          f"first token event {first:.3f} s, last {last_token:.3f} s, done {done:.3f} s; "
          f"the same turn as JSON {plain:.3f} s")
    assert names(events) == ["token"] * count + ["done"]
    assert ttft <= first < ttft + (generation - ttft) / 2, "the first token waited for others"
    assert last_token - first >= delay * (count - 1) * 0.8, "the tokens arrived together"
    assert done >= generation
    assert plain >= generation


async def test_llm_breaking_mid_stream_ends_with_an_error_event_and_stores_nothing(
        llm_client: TestClient, llm_sim: TestServer, redis_keys: RedisKeys) -> None:
    await configure(llm_client, llm_sim, scope="chat", fail_after_tokens=3)
    events = await stream_chat(llm_client, "tell me a joke", sessionId="broken")
    assert names(events) == ["token"] * 3 + ["error"]
    assert text_of(events) == "".join(tokens(JOKE)[:3])
    error = events[-1].data["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "llm_unavailable"
    assert "broke off" in error["message"]
    assert redis_keys() == []
    assert (await llm_client.get("/api/sessions/broken")).status == 404
    assert 'lucia_streams_total{outcome="failed",transport="chat"} 1.0' in \
        await metrics(llm_client)


@pytest.mark.parametrize(("config", "status", "code"), [
    ({"scope": "chat", "fail_count": 1, "fail_status": 503}, 502, "llm_unavailable"),
    ({"scope": "chat", "fail_after_tokens": 0}, 502, "llm_unavailable"),
    ({"scope": "routing", "fail_count": 1}, 502, "llm_unavailable"),
    ({"scope": "chat", "latency": 1.5}, 504, "agent_timeout"),
], ids=["answer refused", "answer broke before its first token", "routing failed",
        "agent too slow"])
async def test_a_failure_before_the_first_token_is_the_json_error(
        make_client: MakeClient, llm_connection: Callable[[str], str], llm_sim: TestServer,
        redis_keys: RedisKeys, config: dict[str, Any], status: int, code: str) -> None:
    client = await make_client(chat_model=llm_connection("openai"), agent_timeout_seconds=0.5)
    await configure(client, llm_sim, **config)
    response = await client.post("/api/chat", json={"message": "tell me a joke"}, headers=SSE)
    assert (response.status, response.content_type) == (status, "application/json")
    assert (await response.json())["error"]["code"] == code
    assert redis_keys() == []


async def test_bad_input_asking_for_a_stream_is_the_json_400(client: TestClient) -> None:
    response = await client.post("/api/chat", json={"message": ""}, headers=SSE)
    assert (response.status, response.content_type) == (400, "application/json")
    assert (await response.json())["error"]["code"] == "empty_message"


async def test_storage_full_before_the_stream_is_the_json_503(
        make_client: MakeClient, redis_server: RedisServer, redis_keys: RedisKeys) -> None:
    client = await make_client(storage_check_seconds=0, storage_retry_after_seconds=9)
    with redis_server.client() as admin:
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory", int(used / 0.9))  # above the 80% watermark
        try:
            response = await client.post("/api/chat", json={"message": "hello"}, headers=SSE)
        finally:
            admin.config_set("maxmemory", RedisServer.MAXMEMORY)
    assert (response.status, response.content_type) == (503, "application/json")
    assert response.headers["Retry-After"] == "9"
    assert (await response.json())["error"]["code"] == "storage_full"
    assert redis_keys() == []


@pytest.fixture(params=[True, False], ids=["handler cancelled", "handler runs on"])
async def served(request: pytest.FixtureRequest, make_settings: Callable[..., Settings],
                 llm_connection: Callable[[str], str]) -> AsyncIterator[str]:
    """The service on a real port, its server cancelling the handler of a lost connection
    (as aiohttp's test server does) or not (as `run_app` does by default)."""
    app = create_app(make_settings(chat_model=llm_connection("openai")))
    runner = web.AppRunner(app, handler_cancellation=request.param)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_a_client_leaving_mid_stream_stores_nothing(
        served: str, llm_sim: TestServer, redis_keys: RedisKeys) -> None:
    async with ClientSession(served) as session:
        async with session.post(f"{sim_url(llm_sim)}/sim/config", json={
                "scope": "chat", "token_delay": 0.1, "reply_tokens": 30}) as configured:
            assert configured.status == 200
        started = time.perf_counter()
        response = await session.post("/api/chat", json={"message": "hi", "sessionId": "left"},
                                      headers=SSE)
        first = await read_event(response, started)
        assert first is not None
        assert first.name == "token"
        response.close()  # the client hangs up, 29 tokens before the end
        left = 'lucia_streams_total{outcome="disconnected",transport="chat"} 1.0'

        async def counted() -> str:
            async with session.get("/metrics") as scraped:
                return await scraped.text()
        for _ in range(100):  # the server notices within a token's delay; allow 5 s
            if left in await counted():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the server never counted the stream as disconnected")
        assert redis_keys() == []
        async with session.get("/api/sessions/left") as stored:
            assert stored.status == 404


@pytest.mark.parametrize(("accept", "streams"), [
    (None, False),
    ("*/*", False),
    ("text/*", False),
    ("application/json", False),
    ("text/event-stream", True),
    ("application/json, text/event-stream", True),
    ("text/event-stream;q=0.5, application/json", False),
    ("text/event-stream; q=0", False),
])
async def test_only_a_client_naming_event_stream_gets_one(
        client: TestClient, accept: str | None, streams: bool) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = await client.post("/api/chat", json={"message": "hello"}, headers=headers)
    assert response.status == 200
    expected = "text/event-stream" if streams else "application/json"
    assert response.content_type == expected
    body = await response.text()
    assert body.startswith("event: token\ndata: ") if streams else body.startswith("{")


async def test_multi_agent_dry_run_streams_each_agents_reply_as_the_json_turn_joins_them(
        ha_client: TestClient, ha_sim: TestServer) -> None:
    message = "turn on the kitchen light and set the temperature to 22 degrees"
    events = await stream_chat(ha_client, message, DRY)
    plain = await plain_chat(ha_client, message, DRY)
    done = events[-1].data
    assert names(events) == ["token", "token", "token", "done"]
    assert text_of(events) == done["response"] == plain["response"]
    assert [event.data["text"] for event in events[:2]] == [
        "[dry run: nothing was changed] Turned on Kitchen Light.",
        "\nSet Living Room Thermostat to 22°."]
    assert events[2].data["text"].startswith(" Would have called light.turn_on")
    assert (done["dryRun"], done["actions"]) == (True, plain["actions"])
    assert {k: v for k, v in done.items() if k not in ("sessionId", "taskId", "timestamp")} == \
        {k: v for k, v in plain.items() if k not in ("sessionId", "taskId", "timestamp")}
    async with ha_client.session.get(f"{sim_url(ha_sim)}/sim/calls") as calls:
        assert await calls.json() == []


@pytest.fixture
async def light_and_general(llm_client: TestClient, llm_sim: TestServer) -> TestClient:
    """The model routes every message to light-agent plus general-assistant."""
    await configure(llm_client, llm_sim, routing={
        "agentId": "light-agent", "confidence": 0.9, "reasoning": "both",
        "additionalAgents": ["general-assistant"]})
    return llm_client


async def test_multi_agent_stream_names_an_agent_that_failed_before_it_spoke(
        light_and_general: TestClient, llm_sim: TestServer) -> None:
    await configure(light_and_general, llm_sim, scope="chat", fail_count=-1)
    events = await stream_chat(light_and_general, "turn on the kitchen light")
    plain = await plain_chat(light_and_general, "turn on the kitchen light")
    assert names(events) == ["token", "token", "done"]
    assert text_of(events) == events[-1].data["response"] == plain["response"] == (
        "Turned on Kitchen Light.\n(General Assistant could not answer: the language model "
        "is unavailable.)")


async def test_multi_agent_stream_breaking_mid_reply_fails_the_turn(
        light_and_general: TestClient, llm_sim: TestServer, redis_keys: RedisKeys) -> None:
    await configure(light_and_general, llm_sim, scope="chat", fail_after_tokens=2)
    events = await stream_chat(light_and_general, "turn on the kitchen light")
    assert names(events) == ["token"] * 3 + ["error"]
    assert text_of(events) == "Turned on Kitchen Light.\n(simulated model)"
    assert redis_keys() == []


async def test_the_offline_model_streams_its_whole_reply_as_one_token(
        client: TestClient) -> None:
    events = await stream_chat(client, "my name is Alice")
    assert names(events) == ["token", "done"]
    assert text_of(events) == events[-1].data["response"] == \
        "Nice to meet you, Alice. I'll remember that."


async def chunks_of(*parts: str) -> Any:
    for part in parts:
        yield part


@pytest.mark.parametrize("parts", [
    ("  ", " Hello", " world ", " ", "\n"),
    ("\n", "Hi", "  \n", " there", ""),
    ("one",),
    (" ", "\n"),
])
async def test_streamed_general_replies_are_trimmed_as_whole_ones_are(
        parts: tuple[str, ...]) -> None:
    out = [chunk async for chunk in stripped(chunks_of(*parts))]
    assert "".join(out) == "".join(parts).strip()
    assert all(out), "no empty chunk is sent"


@pytest.mark.parametrize("text", ["plain", " leading space", "quote \" and \\ and\nnewline",
                                  "Grüße 👋", ""])
def test_a_token_event_is_the_chat_token_models_frame(text: str) -> None:
    from lucia.schemas.rest import ChatToken
    from lucia.sse import frame
    from lucia.views import token

    assert frame(token(text), "token") == frame(ChatToken(text=text), "token")
