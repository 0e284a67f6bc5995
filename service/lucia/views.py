"""HTTP handlers for the REST surface. Each reads input, calls the domain, shapes JSON."""

from __future__ import annotations

from aiohttp import web

from lucia import keys
from lucia.conversation import utc_now
from lucia.errors import AgentNotFound
from lucia.metrics import CONTENT_TYPE
from lucia.openapi import build_openapi
from lucia.validation import check_id, parse_chat_request, parse_dry_run, read_json


def base_url(request: web.Request) -> str:
    configured = request.app[keys.SETTINGS].public_url
    return configured.rstrip("/") if configured else str(request.url.origin())


def agent_id_of(request: web.Request) -> str:
    agent_id = request.match_info["agentId"]
    if agent_id not in request.app[keys.REGISTRY]:
        raise AgentNotFound(f"agent {agent_id!r} does not exist; see GET /api/agents")
    return agent_id


async def alive(request: web.Request) -> web.Response:
    return web.json_response({"status": "Alive", "timestamp": utc_now()})


async def health(request: web.Request) -> web.Response:
    app = request.app
    report = await app[keys.HEALTH].report()
    body = {"status": report.status, "timestamp": utc_now(), "version": app[keys.VERSION],
            "services": report.services(), "reasons": report.reasons()}
    return web.json_response(body, status=503 if report.status == "Unhealthy" else 200)


async def list_agents(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.REGISTRY].cards(base_url(request)))


async def get_agent(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    return web.json_response(request.app[keys.REGISTRY].card(agent_id, base_url(request)))


async def agent_health(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    report = await request.app[keys.HEALTH].report()
    status = report.agent_status(agent_id)
    body = {"agentId": agent_id, "status": status, "timestamp": utc_now(),
            "services": report.services()}
    return web.json_response(body, status=503 if status == "Unhealthy" else 200)


async def chat(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    body = await read_json(request, settings.max_body_bytes)
    message, session_id = parse_chat_request(body, settings.max_message_chars)
    dry_run = parse_dry_run(request.headers)
    outcome = await request.app[keys.CONVERSATION].turn(message, session_id, dry_run=dry_run)
    reply = {
        "response": outcome.response,
        "sessionId": outcome.session_id,
        "timestamp": outcome.timestamp,
        "agent": outcome.agent,
        "taskId": outcome.task_id,
    }
    if dry_run:
        reply |= {"dryRun": True, "actions": list(outcome.actions)}
    return web.json_response(reply)


async def get_session(request: web.Request) -> web.Response:
    session_id = check_id(request.match_info["sessionId"], "sessionId", "invalid_session_id")
    session = await request.app[keys.STORE].get_session(session_id, utc_now())
    return web.json_response(session)


async def delete_session(request: web.Request) -> web.Response:
    session_id = check_id(request.match_info["sessionId"], "sessionId", "invalid_session_id")
    await request.app[keys.STORE].delete_session(session_id)
    return web.Response(status=204)


async def get_task(request: web.Request) -> web.Response:
    task_id = check_id(request.match_info["taskId"], "taskId", "invalid_task_id")
    return web.json_response(await request.app[keys.STORE].get_task(task_id))


async def well_known_card(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.REGISTRY].card("orchestrator", base_url(request)))


async def agent_well_known_card(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    return web.json_response(request.app[keys.REGISTRY].card(agent_id, base_url(request)))


async def openapi(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    return web.json_response(build_openapi(request.app[keys.VERSION], settings.max_message_chars,
                                           request.app[keys.REGISTRY].ids,
                                           api_key_required=settings.api_key is not None))


async def metrics(request: web.Request) -> web.Response:
    await request.app[keys.CAPACITY].check()  # the storage gauges, fresh for this scrape
    body = request.app[keys.METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response
