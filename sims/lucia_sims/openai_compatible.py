"""An OpenAI-compatible LLM simulator: chat completions (including lucia's routing JSON),
streamed or not, and embeddings, with configurable timing and failure injection.

Paths: any path ending in `/chat/completions` or `/embeddings`, so the OpenAI
(`/v1/...`), Ollama (`/v1/...`), Azure OpenAI (`/openai/deployments/{d}/...`) and Azure AI
Inference (`/models/...`) shapes all land here. The newest 1,000 requests are recorded
(path, query, auth headers, body) for tests at `GET /sim/requests`.

Streaming follows the OpenAI API: a chat completion with `"stream": true` answers
`text/event-stream`, one `data: {chat.completion.chunk}` line per event (the first with
`delta.role`, then one per token in `delta.content`, then an empty delta with
`finish_reason: "stop"`; with `stream_options.include_usage` a last chunk with empty
`choices` and `usage`), then `data: [DONE]`. A failure after the stream started is what
OpenAI sends: `data: {"error": {...}}`, and the stream ends without `[DONE]`. Replies are
split into tokens at word boundaries, each word with its leading space.

Timing: a reply is generated token by token, streamed or not. `latency` passes before the
response starts; then `ttft` before the first token and `token_delay` between tokens. A
request that is not streamed answers once its last token is generated (latency + ttft +
token_delay per further token).

Controls: `POST /sim/config` with any of
  latency (seconds before answering), ttft (seconds to the first token), token_delay
  (seconds between tokens), reply_tokens (chat replies padded or cut to exactly this many
  tokens; null: the natural reply), fail_status (HTTP status for failing requests),
  fail_count (how many next requests fail; -1 for all), fail_after_tokens (every reply
  breaks after this many tokens: a stream sends OpenAI's error event and ends without
  `[DONE]`, a request that is not streamed answers fail_status; null: off), scope (which
  requests timing and failures apply to: "all", "routing", "chat" or "embeddings"; or
  "probe": only the GET probes /health makes, see `models`), malformed_routing (how
  many next routing replies are not JSON), routing (a fixed routing object to return);
`POST /sim/reset` restores the defaults.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
from collections import deque
from typing import Any

from aiohttp import web

ROUTING_MARKER = "You route a user's message"

# Words the simulator "understands" for routing, standing in for a real model.
ROUTING_KEYWORDS = {
    "light-agent": {"light", "lights", "lamp", "lamps", "bulb", "brightness"},
    "climate-agent": {"temperature", "thermostat", "heating", "cooling", "degrees", "warmer",
                      "colder", "hvac"},
}

# Embedding concepts: synonyms share a dimension so "lounge" lands near "living room".
CONCEPTS = {
    "living": {"living", "lounge", "sitting", "family", "den"},
    "kitchen": {"kitchen", "cooking", "galley"},
    "bedroom": {"bedroom", "sleeping", "bed", "master"},
    "device": {"lamp", "light", "lights", "bulb", "thermostat"},
}
CONCEPT_WEIGHT = {"device": 0.3}
HASH_BUCKETS = 32
IGNORED = {"room", "the", "a", "my", "in", "of"}

DEFAULTS: dict[str, Any] = {"latency": 0.0, "ttft": 0.0, "token_delay": 0.0,
                            "reply_tokens": None, "fail_status": 500, "fail_count": 0,
                            "fail_after_tokens": None, "scope": "all",
                            "malformed_routing": 0, "routing": None}
CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("config", dict)
# The newest RECORD_LIMIT requests only: a simulator under sustained load must not grow
# without bound (an unbounded list got the dev stack's LLM simulator OOM-killed).
RECORD_LIMIT = 1000
REQUESTS: web.AppKey[deque[dict[str, Any]]] = web.AppKey("requests", deque)

_NAME = re.compile(r"\bmy name is\s+([A-Za-z][\w'-]*)", re.IGNORECASE)
# A token is a word with the whitespace before it, as OpenAI's tokens carry their space.
_TOKEN = re.compile(r"\s*\S+|\s+$")
PADDING_TOKEN = " more"
SIMULATED_FAILURE = {"message": "simulated failure", "type": "server_error", "param": None,
                     "code": None}


def embed(text: str) -> list[float]:
    concepts = list(CONCEPTS)
    vector = [0.0] * (len(concepts) + HASH_BUCKETS)
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in IGNORED:
            continue
        for index, name in enumerate(concepts):
            if word in CONCEPTS[name]:
                vector[index] += CONCEPT_WEIGHT.get(name, 1.0)
                break
        else:
            bucket = int(hashlib.sha256(word.encode()).hexdigest(), 16) % HASH_BUCKETS
            vector[len(concepts) + bucket] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def route(message: str) -> dict[str, Any]:
    said = set(re.findall(r"[a-z]+", message.lower()))
    matched = [agent for agent, words in ROUTING_KEYWORDS.items() if said & words]
    if not matched:
        return {"agentId": "general-assistant", "reasoning": "no device mentioned",
                "confidence": 0.8, "additionalAgents": []}
    return {"agentId": matched[0], "reasoning": f"mentions {', '.join(matched)}",
            "confidence": 0.9, "additionalAgents": matched[1:]}


def converse(messages: list[dict[str, Any]]) -> str:
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    latest = users[-1] if users else ""
    if "name" in latest.lower() and "?" in latest:
        for earlier in reversed(users[:-1]):
            if found := _NAME.search(earlier):
                return f"Your name is {found.group(1)}."
    return f"(simulated model) You said: {latest}"


def tokens(text: str) -> list[str]:
    """The reply as the model generates it: words, each with the whitespace before it."""
    return _TOKEN.findall(text) or [text]


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-sim-{time.time_ns()}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(completion_id: str, model: str, delta: dict[str, Any],
           finish_reason: str | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk`, as OpenAI streams them."""
    return {
        "id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
        "model": model, "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None,
                     "finish_reason": finish_reason}],
    }


def _kind(path: str, body: dict[str, Any]) -> str:
    if path.endswith("/embeddings"):
        return "embeddings"
    system = " ".join(str(m.get("content", "")) for m in body.get("messages", [])
                      if m.get("role") == "system")
    return "routing" if ROUTING_MARKER in system else "chat"


def _failure(status: int) -> web.Response:
    return web.json_response({"error": SIMULATED_FAILURE}, status=status)


async def _prepare(request: web.Request) -> tuple[dict[str, Any], bool, web.Response | None]:
    """Record the request; apply latency and a failure of the whole request. Returns the
    body, whether timing and failures apply to it (its scope), and the failure if any."""
    body = await request.json()
    request.app[REQUESTS].append({
        "path": request.path, "query": dict(request.query),
        "authorization": request.headers.get("Authorization", ""),
        "apiKey": request.headers.get("api-key", ""), "body": body,
    })
    config = request.app[CONFIG]
    if config["scope"] not in ("all", _kind(request.path, body)):
        return body, False, None
    if config["latency"]:
        await asyncio.sleep(config["latency"])
    if config["fail_count"]:
        if config["fail_count"] > 0:
            config["fail_count"] -= 1
        return body, True, _failure(config["fail_status"])
    return body, True, None


def _reply_text(request: web.Request, body: dict[str, Any]) -> str:
    """What the model answers: routing JSON (or a malformed reply), or conversation."""
    config = request.app[CONFIG]
    messages = body.get("messages", [])
    if _kind(request.path, body) == "routing":
        if config["malformed_routing"]:
            config["malformed_routing"] -= 1
            return "Sure! I think lights, probably."
        user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        return json.dumps(config["routing"] or route(str(user)))
    text = converse(messages)
    wanted = config["reply_tokens"]
    if wanted is None:
        return text
    words = tokens(text)[:wanted]
    return "".join(words + [PADDING_TOKEN] * (wanted - len(words)))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body, in_scope, failure = await _prepare(request)
    if failure is not None:
        return failure
    config = request.app[CONFIG]
    ttft = config["ttft"] if in_scope else 0.0
    delay = config["token_delay"] if in_scope else 0.0
    breaks_after = config["fail_after_tokens"] if in_scope else None
    model = body.get("model", "sim")
    words = tokens(_reply_text(request, body))
    if body.get("stream") is True:
        usage = (body.get("stream_options") or {}).get("include_usage") is True
        return await _stream(request, model, words, ttft, delay, breaks_after, usage)
    generated = len(words) if breaks_after is None else min(breaks_after, len(words))
    await asyncio.sleep(ttft + delay * max(0, generated - 1))
    if breaks_after is not None and breaks_after < len(words):
        return _failure(config["fail_status"])
    return web.json_response(_completion(model, "".join(words)))


async def _stream(request: web.Request, model: str, words: list[str], ttft: float,
                  delay: float, breaks_after: int | None,
                  usage: bool) -> web.StreamResponse:
    """Stream `words` as chat.completion.chunk events, one token per event."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    completion_id = f"chatcmpl-sim-{time.time_ns()}"

    async def send(payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        await response.write(f"data: {data}\n\n".encode())

    try:
        await asyncio.sleep(ttft)
        await send(_chunk(completion_id, model, {"role": "assistant", "content": "",
                                                 "refusal": None}))
        for index, word in enumerate(words):
            if breaks_after is not None and index >= breaks_after:
                await send({"error": SIMULATED_FAILURE})
                return response
            if index:
                await asyncio.sleep(delay)
            await send(_chunk(completion_id, model, {"content": word}))
        await send(_chunk(completion_id, model, {}, "stop"))
        if usage:
            await send({**_chunk(completion_id, model, {}), "choices": [],
                        "usage": {"prompt_tokens": 1, "completion_tokens": len(words),
                                  "total_tokens": len(words) + 1}})
        await send("[DONE]")
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away mid-stream, as clients do
    return response


async def embeddings(request: web.Request) -> web.Response:
    body, _, failure = await _prepare(request)
    if failure is not None:
        return failure
    inputs = body.get("input", [])
    inputs = [inputs] if isinstance(inputs, str) else inputs
    return web.json_response({
        "object": "list", "model": body.get("model", "sim"),
        "data": [{"object": "embedding", "index": i, "embedding": embed(text)}
                 for i, text in enumerate(inputs)],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    })


async def dispatch(request: web.Request) -> web.StreamResponse:
    if request.path.endswith("/chat/completions"):
        return await chat_completions(request)
    if request.path.endswith("/embeddings"):
        return await embeddings(request)
    return web.json_response({"error": {"message": "not found"}}, status=404)


async def models(request: web.Request) -> web.Response:
    """What lucia's /health probes (OpenAI and Ollama `/v1/models`, Azure OpenAI
    `/openai/models`, Azure AI Inference `/models/info`). Not recorded; latency and
    failures apply only with scope "probe", so a probe never takes a failure meant for a
    chat call."""
    config = request.app[CONFIG]
    if config["scope"] == "probe":
        if config["latency"]:
            await asyncio.sleep(config["latency"])
        if config["fail_count"]:
            if config["fail_count"] > 0:
                config["fail_count"] -= 1
            return web.json_response({"error": {"message": "simulated failure"}},
                                     status=config["fail_status"])
    if request.path.endswith("/info"):
        return web.json_response({"model_name": "sim", "model_type": "chat-completion",
                                  "model_provider_name": "lucia-sims"})
    return web.json_response({"object": "list", "data": [{"id": "sim", "object": "model"}]})


async def sim_config(request: web.Request) -> web.Response:
    request.app[CONFIG].update(await request.json())
    return web.json_response(request.app[CONFIG])


async def sim_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def sim_reset(request: web.Request) -> web.Response:
    request.app[CONFIG].clear()
    request.app[CONFIG].update(DEFAULTS)
    request.app[REQUESTS].clear()
    return web.json_response(request.app[CONFIG])


async def sim_requests(request: web.Request) -> web.Response:
    recorded = request.app[REQUESTS]
    return web.json_response(list(recorded))


def make_app() -> web.Application:
    app = web.Application()
    app[CONFIG] = dict(DEFAULTS)
    app[REQUESTS] = deque(maxlen=RECORD_LIMIT)
    app.add_routes([
        web.post("/sim/config", sim_config),
        web.get("/sim/health", sim_health),
        web.post("/sim/reset", sim_reset),
        web.get("/sim/requests", sim_requests),
        web.get("/v1/models", models),
        web.get("/openai/models", models),
        web.get("/models/info", models),
        web.post("/{tail:.*}", dispatch),
    ])
    return app


if __name__ == "__main__":
    from lucia_sims._serve import serve

    serve(make_app, 8000, "OpenAI-compatible LLM simulator")
