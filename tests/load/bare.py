"""Bare references for `make bench`, run as host processes beside the service:

- `hello`: an aiohttp hello-world returning a small JSON body;
- `redis`: aiohttp + redis-py (hiredis) doing the Redis work of one chat turn (LRANGE the
  history, then one MULTI with RPUSH, LTRIM, HSETNX, HSET, EXPIRE twice and SET of a task),
  with no routing, agents, validation, logging or metrics.

The ratio service/bare says how much the service's own work costs."""

from __future__ import annotations

import argparse
import json
import uuid

import redis.asyncio as redis
from aiohttp import web

REDIS = web.AppKey("redis", redis.Redis)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["hello", "redis"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/alive", hello)
    if args.kind == "redis":
        app[REDIS] = redis.Redis.from_url(args.redis_url, decode_responses=True)
        app.router.add_post("/api/chat", chat_like)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
