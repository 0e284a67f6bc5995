"""The OpenAPI 3.1 document: the public contract, served at /openapi.json.

Its schemas are generated from the models the handlers validate and answer with
(lucia/schemas); this module adds what a model cannot say: the operations, their
parameters, responses, links and security. A unit test checks that the document validates,
that its paths are exactly the routes the app registers and that real responses match it;
the contract gate (schemathesis) tests the running service against it.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from lucia.http_input import DRY_RUN_HEADER
from lucia.schemas import a2a, rest
from lucia.sse import EVENT_STREAM
from lucia.validation import ID_MAX_LENGTH, ID_PATTERN

JSON = "application/json"
REF_TEMPLATE = "#/components/schemas/{model}"

# Every model in components/schemas, nested ones follow. The A2A params models are
# referenced by no operation (params is an object whose shape depends on the method) but
# document each method's params.
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    rest.Error, rest.Alive, rest.Health, rest.AgentHealth, a2a.AgentCard, rest.ChatResponse,
    rest.ChatToken, rest.Session, a2a.Task, a2a.JsonRpcResponse, a2a.JsonRpcStreamResponse)
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    a2a.JsonRpcRequest, a2a.MessageSendParams, a2a.TaskQueryParams, a2a.TaskIdParams)


class _ContractSchema(GenerateJsonSchema):
    """pydantic's JSON Schema without the titles it derives from Python names (components
    are named by their keys, properties by theirs), and with a model's description (its
    docstring) on one line."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        json_schema.pop("title", None)
        if "description" in json_schema:
            json_schema["description"] = " ".join(json_schema["description"].split())
        return json_schema


@functools.cache
def _components(max_chars: int) -> dict[str, Any]:
    models = [rest.chat_request(max_chars), *REQUEST_MODELS, *RESPONSE_MODELS]
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=REF_TEMPLATE,
        union_format="primitive_type_array", schema_generator=_ContractSchema)
    schemas: dict[str, Any] = definitions["$defs"]
    return schemas


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _event(data: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """One server-sent event, as OpenAPI 3.2 describes an event stream's items (and
    schemathesis reads a 3.1 `schema` of text/event-stream): its `event` name, and `data`
    holding JSON of the given schema."""
    fields: dict[str, Any] = {"data": {"type": "string", "contentMediaType": JSON,
                                       "contentSchema": data}}
    if name is not None:
        fields["event"] = {"const": name}
    return {"type": "object", "required": sorted(fields), "properties": fields}


CHAT_EVENTS = {
    "description": "Accept: text/event-stream. `token` events carry the reply as it is "
                   "produced; `done` ends a turn that was stored, with the fields of the "
                   "JSON answer; `error` ends a turn that broke after the stream began "
                   "(nothing is stored). A failure before the first event is the JSON "
                   "error with its status.",
    "oneOf": [_event(_ref(rest.ChatToken), "token"), _event(_ref(rest.ChatResponse), "done"),
              _event(_ref(rest.Error), "error")],
}
A2A_EVENTS = {
    "description": "message/stream: every event is a JSON-RPC response, in order the Task "
                   "(submitted), a status update (working), artifact updates with the "
                   "reply, the completed status (final: true); or an error, and nothing is "
                   "stored.",
    **_event(_ref(a2a.JsonRpcStreamResponse)),
}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "Invalid input (invalid_json, invalid_request, unknown_field, empty_message, "
             "message_too_long, invalid_session_id, invalid_task_id).",
        401: "Missing or wrong X-Api-Key (unauthorized) when LUCIA_API_KEY is set.",
        404: "Not found (session_not_found, task_not_found, agent_not_found).",
        413: "Body larger than LUCIA_MAX_BODY_BYTES (payload_too_large).",
        415: "Content-Type is not application/json (unsupported_media_type).",
        502: "The LLM failed (llm_unavailable) or Home Assistant failed.",
        503: "Redis is unreachable (redis_unavailable), or storage is full (storage_full, "
             "with Retry-After): near the high watermark new sessions are refused while "
             "existing ones continue (docs/capacity.md).",
        504: "The LLM or an agent timed out (llm_timeout, agent_timeout).",
    }
    return {str(status): _json(_ref(rest.Error), texts[status]) for status in statuses}


def _id_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": ID_PATTERN, "maxLength": ID_MAX_LENGTH}}


def _agent_param(agent_ids: list[str]) -> dict[str, Any]:
    return {"name": "agentId", "in": "path", "required": True, "description": "An agent id.",
            "schema": {"type": "string", "examples": agent_ids}}


DRY_RUN_PARAMETER = {
    "name": DRY_RUN_HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "enum": ["true", "false"]},
    "description": "true: route, read Home Assistant state, match entities and call the LLM, "
                   "but make no Home Assistant service call; the reply and the task's "
                   "metadata say what would have been done. Any other value is a 400.",
}


def build_openapi(version: str, max_chars: int, agent_ids: list[str],
                  api_key_required: bool) -> dict[str, Any]:
    """The contract of this deployment: with LUCIA_API_KEY set, /api/* and /a2a/* require
    X-Api-Key and document 401; without it they are open and say so."""
    agent = _agent_param(agent_ids)
    session = _id_param("sessionId", "A session id (the chat's sessionId).")
    task = _id_param("taskId", "A task id (the chat's taskId).")
    secured: list[dict[str, list[str]]] = [{"ApiKey": []}] if api_key_required else []
    chat_links = {
        "GetSession": {"operationId": "getSession",
                       "parameters": {"sessionId": "$response.body#/sessionId"},
                       "description": "The session this turn was stored in."},
        "DeleteSession": {"operationId": "deleteSession",
                          "parameters": {"sessionId": "$response.body#/sessionId"},
                          "description": "Forget the session this turn was stored in."},
        "GetTask": {"operationId": "getTask",
                    "parameters": {"taskId": "$response.body#/taskId"},
                    "description": "The A2A task recording this turn."},
    }
    chat_ok = _json(_ref(rest.ChatResponse), "The reply, and where it was stored; with "
                    "Accept: text/event-stream, the reply streamed as server-sent events.")
    chat_ok["content"][EVENT_STREAM] = {"schema": CHAT_EVENTS}
    chat_ok["links"] = chat_links
    rpc_ok = _json(_ref(a2a.JsonRpcResponse), "A JSON-RPC result or error; for message/stream "
                   "(once its params are accepted) server-sent events.")
    rpc_ok["content"][EVENT_STREAM] = {"schema": A2A_EVENTS}
    card = _ref(a2a.AgentCard)
    paths: dict[str, Any] = {
        "/alive": {"get": {"operationId": "alive", "summary": "Liveness; checks nothing.",
                           "security": [],
                           "responses": {"200": _json(_ref(rest.Alive), "Alive.")}}},
        "/health": {"get": {
            "operationId": "health", "summary": "Readiness of Redis, Home Assistant, the LLM.",
            "security": [],
            "responses": {"200": _json(_ref(rest.Health), "Healthy or Degraded."),
                          "503": _json(_ref(rest.Health),
                                       "Unhealthy: Redis is unreachable or out of memory.")},
        }},
        "/api/agents": {"get": {
            "operationId": "listAgents", "summary": "Agent cards, orchestrator first.",
            "responses": {"200": _json({"type": "array", "items": card}, "Every agent card."),
                          **_errors(401)},
        }},
        "/api/agents/{agentId}": {"get": {
            "operationId": "getAgent", "summary": "One agent card.", "parameters": [agent],
            "responses": {"200": _json(card, "The card."), **_errors(401, 404)},
        }},
        "/api/agents/{agentId}/health": {"get": {
            "operationId": "getAgentHealth",
            "summary": "An agent's status, from the dependencies it needs.",
            "parameters": [agent],
            "responses": {"200": _json(_ref(rest.AgentHealth), "Healthy or Degraded."),
                          "503": _json(_ref(rest.AgentHealth), "Unhealthy."),
                          **_errors(401, 404)},
        }},
        "/api/chat": {"post": {
            "operationId": "chat", "summary": "Send a message; get the routed agent's reply.",
            "parameters": [DRY_RUN_PARAMETER],
            "requestBody": {"required": True,
                            "content": {JSON: {"schema": _ref(rest.ChatRequest)}}},
            "responses": {"200": chat_ok,
                          **_errors(400, 401, 413, 415, 502, 503, 504)},
        }},
        "/api/sessions/{sessionId}": {
            "get": {"operationId": "getSession", "summary": "A session's history.",
                    "parameters": [session],
                    "responses": {"200": _json(_ref(rest.Session), "The session."),
                                  **_errors(400, 401, 404, 503)}},
            "delete": {"operationId": "deleteSession", "summary": "Forget a session.",
                       "parameters": [session],
                       "responses": {"204": {"description": "Deleted."},
                                     **_errors(400, 401, 404, 503)}},
        },
        "/api/tasks/{taskId}": {"get": {
            "operationId": "getTask", "summary": "An A2A task.", "parameters": [task],
            "responses": {"200": _json(_ref(a2a.Task), "The task."),
                          **_errors(400, 401, 404, 503)},
        }},
        "/a2a/{agentId}": {"post": {
            "operationId": "a2aJsonRpc", "summary": "A2A JSON-RPC 2.0 endpoint.",
            "parameters": [agent, DRY_RUN_PARAMETER],
            "requestBody": {"required": True,
                            "content": {JSON: {"schema": _ref(a2a.JsonRpcRequest)}}},
            "responses": {"200": rpc_ok, **_errors(400, 401, 404, 413, 415)},
        }},
        "/.well-known/agent-card.json": {"get": {
            "operationId": "wellKnownAgentCard", "summary": "The orchestrator's card.",
            "security": [], "responses": {"200": _json(card, "The card.")},
        }},
        "/a2a/{agentId}/.well-known/agent-card.json": {"get": {
            "operationId": "agentWellKnownCard", "summary": "An agent's card (public).",
            "parameters": [agent], "security": [],
            "responses": {"200": _json(card, "The card."), **_errors(404)},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document.", "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
        }},
        "/metrics": {"get": {
            "operationId": "metrics", "summary": "Prometheus metrics.", "security": [],
            "responses": {"200": {"description": "Prometheus text exposition.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
    }
    if not api_key_required:
        for item in paths.values():
            for operation in item.values():
                operation["responses"].pop("401", None)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "lucia agent host", "version": version,
                 "description": "Routes messages to Home Assistant agents; A2A compatible."},
        "paths": paths,
        "security": secured,
        # A copy: the cached schemas must not change under a caller that edits its document.
        "components": {"schemas": copy.deepcopy(_components(max_chars))},
    }
    if api_key_required:
        document["components"]["securitySchemes"] = {"ApiKey": {
            "type": "apiKey", "in": "header", "name": "X-Api-Key",
            "description": "Required on /api/* and /a2a/* (LUCIA_API_KEY is set)."}}
    return document
