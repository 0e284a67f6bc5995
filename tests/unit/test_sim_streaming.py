"""The LLM simulator streams chat completions as the OpenAI API does, so the real openai
SDK parses them: `chat.completion.chunk` events (role first, a token each, finish_reason
last, usage when asked), `data: [DONE]`; its time to first token and delay per token hold
whether the reply is streamed or not; and a reply can break mid-stream as OpenAI's do."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import openai
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application
from openai.types.chat import ChatCompletionMessageParam

from lucia_sims import openai_compatible
from lucia_sims.openai_compatible import tokens
from tests.unit.conftest import sim_url

Client = Callable[[Application], Awaitable[TestClient]]
CHAT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi there"}]
REPLY = "(simulated model) You said: hi there"


@pytest.fixture
async def sdk(llm_sim: TestServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key="k", base_url=f"{sim_url(llm_sim)}/v1", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
def configure(llm_sim: TestServer) -> Callable[..., Awaitable[None]]:
    async def post(**config: Any) -> None:
        async with ClientSession() as session, \
                session.post(f"{sim_url(llm_sim)}/sim/config", json=config) as response:
            assert response.status == 200
    return post


async def test_the_sdk_reads_the_stream_as_openais(sdk: openai.AsyncOpenAI) -> None:
    chunks = [chunk async for chunk in await sdk.chat.completions.create(
        model="m", messages=CHAT, stream=True,
        stream_options={"include_usage": True})]
    *choices, usage = chunks
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    assert choices[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in choices[1:-1]] == tokens(REPLY)
    assert "".join(c.choices[0].delta.content or "" for c in choices) == REPLY
    assert [c.choices[0].finish_reason for c in choices] == [None] * (len(choices) - 1) + ["stop"]
    assert usage.choices == []
    assert usage.usage is not None
    assert usage.usage.completion_tokens == len(tokens(REPLY))


async def test_the_stream_is_sse_ending_in_done(aiohttp_client: Client) -> None:
    client = await aiohttp_client(openai_compatible.make_app())
    response = await client.post("/v1/chat/completions",
                                 json={"model": "m", "messages": CHAT, "stream": True})
    body = await response.text()
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert body.endswith("\n\ndata: [DONE]\n\n")
    events = body.split("\n\n")[:-1]
    assert all(event.startswith("data: ") and "\n" not in event for event in events)
    assert len(events) == 1 + len(tokens(REPLY)) + 1 + 1  # role, tokens, stop, [DONE]


async def test_a_reply_breaking_mid_stream_is_the_sdks_api_error(
        sdk: openai.AsyncOpenAI, configure: Callable[..., Awaitable[None]]) -> None:
    await configure(fail_after_tokens=2)
    received: list[str] = []

    async def read() -> None:
        async for chunk in await sdk.chat.completions.create(
                model="m", messages=CHAT, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    with pytest.raises(openai.APIError, match="simulated failure") as raised:
        await read()
    assert not isinstance(raised.value, openai.APIStatusError)  # it broke after the 200
    assert "".join(received) == "".join(tokens(REPLY)[:2])
    with pytest.raises(openai.InternalServerError):  # not streamed: the reply fails whole
        await sdk.chat.completions.create(model="m", messages=CHAT)


async def test_ttft_and_token_delay_time_streamed_and_whole_replies(
        sdk: openai.AsyncOpenAI, configure: Callable[..., Awaitable[None]]) -> None:
    ttft, delay = 0.3, 0.05
    await configure(ttft=ttft, token_delay=delay, reply_tokens=8)
    started = time.perf_counter()
    arrivals = []
    async for chunk in await sdk.chat.completions.create(
            model="m", messages=CHAT, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - started)
    started = time.perf_counter()
    whole = await sdk.chat.completions.create(model="m", messages=CHAT)
    took = time.perf_counter() - started
    assert len(arrivals) == 8
    assert arrivals[0] >= ttft
    assert arrivals[-1] - arrivals[0] >= 7 * delay * 0.9
    assert took >= ttft + 7 * delay
    assert whole.choices[0].message.content == REPLY + " more" * 2  # 6 tokens, padded to 8


@pytest.mark.parametrize("count", [2, 12])
async def test_reply_tokens_cuts_or_pads_the_reply(
        sdk: openai.AsyncOpenAI, configure: Callable[..., Awaitable[None]], count: int) -> None:
    await configure(reply_tokens=count)
    whole = await sdk.chat.completions.create(model="m", messages=CHAT)
    content = whole.choices[0].message.content or ""
    assert len(tokens(content)) == count
    assert content.startswith("".join(tokens(REPLY)[:min(count, len(tokens(REPLY)))]))
