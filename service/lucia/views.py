"""HTTP handlers for the REST surface. Each reads input, calls the domain, shapes JSON
with the models of lucia/schemas/rest.py (the ones /openapi.json is generated from)."""

from __future__ import annotations

from contextlib import aclosing

from aiohttp import web
from pydantic import MISSING, BaseModel

from lucia import keys
from lucia.conversation import TurnOutcome, utc_now
from lucia.errors import LuciaError
from lucia.health import HealthReport
from lucia.http_input import agent_id_of, dry_run_of, path_id, read_json
from lucia.metrics import CONTENT_TYPE
from lucia.openapi import build_openapi
from lucia.schemas.rest import (
    AgentHealth,
    Alive,
    ChatRequest,
    ChatResponse,
    Error,
    ErrorDetail,
    Health,
    PlannedAction,
    Services,
    chat_request,
)
from lucia.sse import EventStream, wants_event_stream
from lucia.validation import validate


def json_model(body: BaseModel, status: int = 200) -> web.Response:
    # MISSING fields (a dry run's extras, say) are left out by pydantic itself.
    return web.json_response(body.model_dump(mode="json"), status=status)


def base_url(request: web.Request) -> str:
    configured = request.app[keys.SETTINGS].public_url
    return configured.rstrip("/") if configured else str(request.url.origin())


def services(report: HealthReport) -> Services:
    return Services(redis=report.redis, homeAssistant=report.home_assistant, llm=report.llm,
                    storage=report.storage.state)


async def alive(request: web.Request) -> web.Response:
    return json_model(Alive(status="Alive", timestamp=utc_now()))


async def health(request: web.Request) -> web.Response:
    app = request.app
    report = await app[keys.HEALTH].report()
    body = Health(status=report.status, timestamp=utc_now(), version=app[keys.VERSION],
                  services=services(report), reasons=report.reasons())
    return json_model(body, status=503 if report.status == "Unhealthy" else 200)


async def list_agents(request: web.Request) -> web.Response:
    cards = request.app[keys.REGISTRY].cards(base_url(request))
    return web.json_response([card.model_dump(mode="json") for card in cards])


async def get_agent(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    return json_model(request.app[keys.REGISTRY].card(agent_id, base_url(request)))


async def agent_health(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    report = await request.app[keys.HEALTH].report()
    status = report.agent_status(request.app[keys.REGISTRY].requirements(agent_id))
    body = AgentHealth(agentId=agent_id, status=status, timestamp=utc_now(),
                       services=services(report))
    return json_model(body, status=503 if status == "Unhealthy" else 200)


def chat_response(outcome: TurnOutcome) -> ChatResponse:
    dry_run = outcome.dry_run
    return ChatResponse(
        response=outcome.response, sessionId=outcome.session_id, timestamp=outcome.timestamp,
        agent=outcome.agent, taskId=outcome.task_id,
        dryRun=True if dry_run else MISSING,
        actions=[PlannedAction.model_validate(action) for action in outcome.actions]
        if dry_run else MISSING)


async def chat(request: web.Request) -> web.StreamResponse:
    settings = request.app[keys.SETTINGS]
    body = validate(chat_request(settings.max_message_chars),
                    await read_json(request, settings.max_body_bytes))
    dry_run = dry_run_of(request)
    if wants_event_stream(request):
        return await stream_chat(request, body, dry_run)
    outcome = await request.app[keys.CONVERSATION].turn(body.message, body.session_id,
                                                        dry_run=dry_run)
    return json_model(chat_response(outcome))


def token(text: str) -> dict[str, str]:
    """The data of an `event: token`: exactly `ChatToken(text=text).model_dump()`."""
    return {"text": text}


async def stream_chat(request: web.Request, body: ChatRequest,
                      dry_run: bool) -> web.StreamResponse:
    """The turn as server-sent events: `token` events with the reply as it is produced,
    then `done` with the JSON answer's fields; or `error`, and nothing is stored.

    Until the first piece of the reply exists nothing has been sent, so a failure up to
    then (storage_full, Redis, routing, the LLM before its first token) is the ordinary
    JSON error with its status."""
    streamed = await request.app[keys.CONVERSATION].stream_turn(
        body.message, body.session_id, dry_run=dry_run)
    stream = EventStream(request, "chat")
    async with aclosing(streamed.chunks) as chunks:
        first = await anext(chunks, None)

        async def produce() -> bool:
            # Each token event's data is ChatToken's dump, `{"text": ...}`, written as the
            # dict itself: a model built and dumped again per token cost more than the
            # event's framing (the profile of `make load-llm`).
            if first is not None:
                await stream.send(token(first), "token", reply=True)
            # A client gone before the last pull stores nothing: that pull writes the turn.
            while not stream.client_gone and (chunk := await anext(chunks, None)) is not None:
                await stream.send(token(chunk), "token", reply=True)
            if streamed.outcome is None:
                return False
            await stream.send(chat_response(streamed.outcome), "done")
            return True

        async def send_error(error: LuciaError | None) -> None:
            code, message = (error.code, error.message) if error is not None else \
                ("internal_error", "an unexpected error occurred")
            await stream.send(Error(error=ErrorDetail(code=code, message=message)), "error")

        return await stream.serve(produce, send_error)


async def get_session(request: web.Request) -> web.Response:
    session_id = path_id(request, "sessionId", "invalid_session_id")
    session = await request.app[keys.STORE].get_session(session_id, utc_now())
    return web.json_response(session)


async def delete_session(request: web.Request) -> web.Response:
    session_id = path_id(request, "sessionId", "invalid_session_id")
    await request.app[keys.STORE].delete_session(session_id)
    return web.Response(status=204)


async def get_task(request: web.Request) -> web.Response:
    task_id = path_id(request, "taskId", "invalid_task_id")
    return web.json_response(await request.app[keys.STORE].get_task(task_id))


async def well_known_card(request: web.Request) -> web.Response:
    return json_model(request.app[keys.REGISTRY].card("orchestrator", base_url(request)))


async def agent_well_known_card(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    return json_model(request.app[keys.REGISTRY].card(agent_id, base_url(request)))


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
