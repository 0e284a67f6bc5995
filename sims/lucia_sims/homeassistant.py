"""A Home Assistant simulator: bearer auth, stateful lights and a thermostat.

Real REST shapes: `GET /api/`, `GET /api/states`, `GET /api/states/{entity_id}`,
`POST /api/services/{domain}/{service}` (returns the changed states). Test controls live
under `/sim/`: `POST /sim/reset`, `POST /sim/config` ({"latency": s}), `GET /sim/calls`
(the newest 1,000 service calls).
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

DEFAULT_TOKEN = "sim-ha-token"

INITIAL_STATES: list[dict[str, Any]] = [
    {"entity_id": "light.kitchen", "state": "off",
     "attributes": {"friendly_name": "Kitchen Light", "supported_color_modes": ["brightness"]}},
    {"entity_id": "light.living_room", "state": "off",
     "attributes": {"friendly_name": "Living Room Lamp", "supported_color_modes": ["brightness"]}},
    {"entity_id": "light.bedroom", "state": "on",
     "attributes": {"friendly_name": "Bedroom Light", "brightness": 128,
                    "supported_color_modes": ["brightness"]}},
    {"entity_id": "climate.living_room", "state": "heat",
     "attributes": {"friendly_name": "Living Room Thermostat", "temperature": 20.0,
                    "current_temperature": 19.5, "hvac_modes": ["off", "heat", "cool",
                                                                 "heat_cool"]}},
]

STATES: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("states", dict)
# The newest RECORD_LIMIT calls only: a simulator under sustained load must not grow
# without bound (an unbounded list got the dev stack's LLM simulator OOM-killed).
RECORD_LIMIT = 1000
CALLS: web.AppKey[deque[dict[str, Any]]] = web.AppKey("calls", deque)
CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("config", dict)
TOKEN = web.AppKey("token", str)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _reset(app: web.Application) -> None:
    app[STATES].clear()
    for state in copy.deepcopy(INITIAL_STATES):
        state["last_changed"] = _now()
        app[STATES][state["entity_id"]] = state
    app[CALLS].clear()
    app[CONFIG].update({"latency": 0.0})


@web.middleware
async def _auth_and_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api"):
        if request.headers.get("Authorization") != f"Bearer {request.app[TOKEN]}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        if latency := request.app[CONFIG]["latency"]:
            await asyncio.sleep(latency)
    return await handler(request)


async def api_root(request: web.Request) -> web.Response:
    return web.json_response({"message": "API running."})


async def states(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATES].values()))


async def state(request: web.Request) -> web.Response:
    entity = request.app[STATES].get(request.match_info["entity_id"])
    if entity is None:
        return web.json_response({"message": "Entity not found."}, status=404)
    return web.json_response(entity)


def _apply(entity: dict[str, Any], domain: str, service: str, data: dict[str, Any]) -> None:
    attributes = entity["attributes"]
    if domain == "light":
        if service == "turn_off" or (service == "toggle" and entity["state"] == "on"):
            entity["state"] = "off"
            attributes.pop("brightness", None)
            return
        entity["state"] = "on"
        if "brightness_pct" in data:
            attributes["brightness"] = round(float(data["brightness_pct"]) * 255 / 100)
        elif "brightness" in data:
            attributes["brightness"] = int(data["brightness"])
        else:
            attributes.setdefault("brightness", 255)
    elif domain == "climate":
        if service == "set_temperature":
            attributes["temperature"] = float(data["temperature"])
        elif service == "set_hvac_mode":
            entity["state"] = data["hvac_mode"]


SERVICES = {"light": {"turn_on", "turn_off", "toggle"},
            "climate": {"set_temperature", "set_hvac_mode"}}


async def call_service(request: web.Request) -> web.Response:
    domain, service = request.match_info["domain"], request.match_info["service"]
    if service not in SERVICES.get(domain, set()):
        return web.json_response({"message": f"Service {domain}.{service} not found."},
                                 status=400)
    data = await request.json()
    ids = data.get("entity_id", [])
    ids = [ids] if isinstance(ids, str) else list(ids)
    request.app[CALLS].append({"domain": domain, "service": service, "data": data})
    changed = []
    for entity_id in ids:
        entity = request.app[STATES].get(entity_id)
        if entity is None or not entity_id.startswith(f"{domain}."):
            return web.json_response({"message": f"Entity {entity_id} not found."}, status=400)
        _apply(entity, domain, service, data)
        entity["last_changed"] = _now()
        changed.append(entity)
    return web.json_response(changed)


async def sim_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def sim_reset(request: web.Request) -> web.Response:
    _reset(request.app)
    return web.json_response({"reset": True})


async def sim_config(request: web.Request) -> web.Response:
    request.app[CONFIG].update(await request.json())
    return web.json_response(request.app[CONFIG])


async def sim_calls(request: web.Request) -> web.Response:
    calls = request.app[CALLS]
    return web.json_response(list(calls))


def make_app(token: str | None = None) -> web.Application:
    app = web.Application(middlewares=[_auth_and_latency])
    app[TOKEN] = token or os.environ.get("SIM_HA_TOKEN", DEFAULT_TOKEN)
    app[STATES] = {}
    app[CALLS] = deque(maxlen=RECORD_LIMIT)
    app[CONFIG] = {}
    _reset(app)
    app.add_routes([
        web.get("/api/", api_root),
        web.get("/api/states", states),
        web.get("/api/states/{entity_id}", state),
        web.post("/api/services/{domain}/{service}", call_service),
        web.get("/sim/health", sim_health),
        web.post("/sim/reset", sim_reset),
        web.post("/sim/config", sim_config),
        web.get("/sim/calls", sim_calls),
    ])
    return app


if __name__ == "__main__":
    from lucia_sims._serve import serve

    serve(make_app, 8123, "Home Assistant simulator")
