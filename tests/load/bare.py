"""Bare references for `make bench`, run as host processes beside the service:

- `hello`: an aiohttp hello-world returning a small JSON body;
- `redis`: aiohttp + redis-py (hiredis) doing the Redis work of one chat turn (LRANGE the
  history, then one MULTI with RPUSH, LTRIM, HSETNX, HSET, EXPIRE twice and SET of a task),
  with no routing, agents, validation, logging or metrics;
- `llm` (for `make load-llm`): a minimal SSE relay of a streamed chat turn. It makes the
  LLM calls a turn of the service makes, through the same openai SDK against the same
  simulator (a routing completion, then the streamed answer), and relays each token as
  the service's `event: token`, then `event: done`; no Redis, validation, agents, logging
  or metrics. What the service adds beyond it is the service's own cost; what it adds
  beyond the simulator is the relay's and the load driver's.

The ratio service/bare says how much the service's own work costs."""

from __future__ import annotations

import argparse
import json
import uuid

import openai
import redis.asyncio as redis
from aiohttp import web

REDIS = web.AppKey("redis", redis.Redis)
LLM = web.AppKey("llm", openai.AsyncOpenAI)
# What the simulator recognises as a routing prompt (lucia_sims.openai_compatible), as the
# service's orchestrator starts its own: answered at once, outside the simulated latency.
ROUTING_PROMPT = "You route a user's message to the agents that should handle it."
ANSWER_PROMPT = "You are a friendly home assistant. Answer briefly."


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"status": "Alive"})


async def chat_like(request: web.Request) -> web.Response:
    body = await request.json()
    session = body.get("sessionId") or uuid.uuid4().hex
    client = request.app[REDIS]
    hkey, skey = f"bare:session:{session}:history", f"bare:session:{session}"
    await client.lrange(hkey, 0, -1)
    entry = json.dumps({"role": "user", "content": body["message"]})
    task_id = uuid.uuid4().hex
    pipe = client.pipeline(transaction=True)
    pipe.rpush(hkey, entry, entry)
    pipe.ltrim(hkey, -50, -1)
    pipe.hsetnx(skey, "createdAt", "now")
    pipe.hset(skey, "lastAccessedAt", "now")
    pipe.expire(skey, 3600)
    pipe.expire(hkey, 3600)
    pipe.set(f"bare:task:{task_id}", entry, ex=3600)
    await pipe.execute()
    return web.json_response({"response": "ok", "sessionId": session, "taskId": task_id})


def sse(event: str, data: dict[str, str]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def llm_relay(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    session = body.get("sessionId") or uuid.uuid4().hex
    client = request.app[LLM]
    user = {"role": "user", "content": body["message"]}
    await client.chat.completions.create(
        model="sim-model", messages=[{"role": "system", "content": ROUTING_PROMPT}, user])
    chunks = await client.chat.completions.create(
        model="sim-model", stream=True,
        messages=[{"role": "system", "content": ANSWER_PROMPT}, user])
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    parts = []
    async with chunks:
        async for chunk in chunks:
            text = chunk.choices[0].delta.content if chunk.choices else None
            if text:
                parts.append(text)
                await response.write(sse("token", {"text": text}))
    await response.write(sse("done", {"response": "".join(parts), "sessionId": session}))
    await response.write_eof()
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["hello", "redis", "llm"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--llm-url", default="http://127.0.0.1:5011/v1",
                        help="the LLM simulator's OpenAI-compatible base URL (kind llm)")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/alive", hello)
    if args.kind == "redis":
        app[REDIS] = redis.Redis.from_url(args.redis_url, decode_responses=True)
        app.router.add_post("/api/chat", chat_like)
    if args.kind == "llm":
        # The SDK's defaults, as the service's own client has them, but no retries: a
        # reference that retried would hide failures.
        app[LLM] = openai.AsyncOpenAI(base_url=args.llm_url, api_key="sim-key",
                                      max_retries=0, timeout=30)
        app.router.add_post("/api/chat", llm_relay)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
