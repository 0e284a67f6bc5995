"""An OpenAI-compatible LLM simulator: chat completions (including lucia's routing JSON)
and embeddings, with configurable latency and failure injection.

Paths: any path ending in `/chat/completions` or `/embeddings`, so the OpenAI
(`/v1/...`), Ollama (`/v1/...`), Azure OpenAI (`/openai/deployments/{d}/...`) and Azure AI
Inference (`/models/...`) shapes all land here. The newest 1,000 requests are recorded
(path, query, auth headers, body) for tests at `GET /sim/requests`.

Controls: `POST /sim/config` with any of
  latency (seconds before answering), fail_status (HTTP status for failing requests),
  fail_count (how many next requests fail; -1 for all), scope (which requests latency and
  failures apply to: "all", "routing", "chat" or "embeddings"; or "probe": only the
  GET probes /health makes, see `models`), malformed_routing (how
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

DEFAULTS: dict[str, Any] = {"latency": 0.0, "fail_status": 500, "fail_count": 0,
                            "scope": "all", "malformed_routing": 0, "routing": None}
CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("config", dict)
# The newest RECORD_LIMIT requests only: a simulator under sustained load must not grow
# without bound (an unbounded list got the dev stack's LLM simulator OOM-killed).
RECORD_LIMIT = 1000
REQUESTS: web.AppKey[deque[dict[str, Any]]] = web.AppKey("requests", deque)

_NAME = re.compile(r"\bmy name is\s+([A-Za-z][\w'-]*)", re.IGNORECASE)


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


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-sim-{time.time_ns()}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _kind(path: str, body: dict[str, Any]) -> str:
    if path.endswith("/embeddings"):
        return "embeddings"
    system = " ".join(str(m.get("content", "")) for m in body.get("messages", [])
                      if m.get("role") == "system")
    return "routing" if ROUTING_MARKER in system else "chat"


async def _prepare(request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
    body = await request.json()
    request.app[REQUESTS].append({
        "path": request.path, "query": dict(request.query),
        "authorization": request.headers.get("Authorization", ""),
        "apiKey": request.headers.get("api-key", ""), "body": body,
    })
    config = request.app[CONFIG]
    if config["scope"] not in ("all", _kind(request.path, body)):
        return body, None
    if config["latency"]:
        await asyncio.sleep(config["latency"])
    if config["fail_count"]:
        if config["fail_count"] > 0:
            config["fail_count"] -= 1
        status = config["fail_status"]
        return body, web.json_response(
            {"error": {"message": "simulated failure", "type": "server_error"}}, status=status)
    return body, None


async def chat_completions(request: web.Request) -> web.Response:
    body, failure = await _prepare(request)
    if failure is not None:
        return failure
    messages = body.get("messages", [])
    model = body.get("model", "sim")
    if _kind(request.path, body) == "routing":
        config = request.app[CONFIG]
        if config["malformed_routing"]:
            config["malformed_routing"] -= 1
            return web.json_response(_completion(model, "Sure! I think lights, probably."))
        user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        decision = config["routing"] or route(str(user))
        return web.json_response(_completion(model, json.dumps(decision)))
    return web.json_response(_completion(model, converse(messages)))


async def embeddings(request: web.Request) -> web.Response:
    body, failure = await _prepare(request)
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


async def dispatch(request: web.Request) -> web.Response:
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
