"""A stand-in for an LLM provider's cheap GET endpoints, the ones lucia's health probe
calls (`GET /v1/models`, `/openai/models`, `/models/info`), answering a chosen status after
a chosen delay and recording every request. The shared LLM simulator serves only
`GET /v1/models`, records no GET and cannot fail one, so the probe's tests use this."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

HITS = web.AppKey("hits", list)
CONFIG = web.AppKey("config", dict)


async def _answer(request: web.Request) -> web.Response:
    request.app[HITS].append({
        "path": request.path, "query": dict(request.query),
        "authorization": request.headers.get("Authorization", ""),
        "apiKey": request.headers.get("api-key", ""),
    })
    config: dict[str, Any] = request.app[CONFIG]
    if config["latency"]:
        await asyncio.sleep(config["latency"])
    if config["status"] >= 400:
        return web.json_response({"error": {"message": "double says no"}},
                                 status=config["status"])
    return web.json_response({"object": "list", "data": [{"id": "sim-model",
                                                          "object": "model"}]})


def make_app(status: int = 200, latency: float = 0.0) -> web.Application:
    app = web.Application()
    app[HITS] = []
    app[CONFIG] = {"status": status, "latency": latency}
    app.router.add_get("/{tail:.*}", _answer)
    return app


def connection(base: str, provider: str = "openai") -> str:
    """A connection string for `provider` with its endpoint on the double at `base`."""
    endpoint = {"openai": f"{base}/v1", "ollama": base, "azureopenai": base,
                "azureaiinference": f"{base}/models"}[provider]
    return f"Endpoint={endpoint};AccessKey=double-key;Model=sim-model;Provider={provider}"
