"""The OpenAPI 3.1 document: the public contract, served at /openapi.json.

A unit test checks that it validates and that its paths are exactly the routes the app
registers; the contract gate (schemathesis) tests the running service against it.
"""

from __future__ import annotations

from typing import Any

from lucia.validation import ID_PATTERN, MESSAGE_PATTERN

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


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
    return {str(status): _error(texts[status]) for status in statuses}


def _id_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": ID_PATTERN, "maxLength": 128}}


def _agent_param(agent_ids: list[str]) -> dict[str, Any]:
    return {"name": "agentId", "in": "path", "required": True, "description": "An agent id.",
            "schema": {"type": "string", "examples": agent_ids}}


DRY_RUN_PARAMETER = {
    "name": "X-Lucia-Dry-Run", "in": "header", "required": False,
    "schema": {"type": "string", "enum": ["true", "false"]},
    "description": "true: route, read Home Assistant state, match entities and call the LLM, "
                   "but make no Home Assistant service call; the reply and the task's "
                   "metadata say what would have been done. Any other value is a 400.",
}


def _schemas(max_chars: int) -> dict[str, Any]:
    text_part = {"type": "object", "required": ["kind", "text"],
                 "properties": {"kind": {"const": "text"}, "text": {"type": "string"}}}
    message = {
        "type": "object", "required": ["kind", "messageId", "role", "parts"],
        "properties": {
            "kind": {"const": "message"}, "messageId": {"type": "string"},
            "role": {"enum": ["user", "agent"]},
            "parts": {"type": "array", "items": text_part},
            "contextId": {"type": "string"}, "taskId": {"type": "string"},
        },
    }
    services = {
        "type": "object", "required": ["redis", "homeAssistant", "llm", "storage"],
        "properties": {
            "redis": {"enum": ["Connected", "Disconnected"]},
            "homeAssistant": {"enum": ["Connected", "Disconnected", "NotConfigured"]},
            "llm": {"enum": ["Offline", "Configured"]},
            "storage": {"enum": ["Ok", "High", "Full", "Unknown"]},
        },
    }
    return {
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }},
        },
        "Alive": {"type": "object", "required": ["status", "timestamp"],
                  "properties": {"status": {"const": "Alive"},
                                 "timestamp": {"type": "string", "format": "date-time"}}},
        "Health": {
            "type": "object",
            "required": ["status", "timestamp", "version", "services", "reasons"],
            "properties": {
                "status": {"enum": ["Healthy", "Degraded", "Unhealthy"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "version": {"type": "string"},
                "services": services,
                "reasons": {"type": "array", "items": {"type": "string"},
                            "description": "Why the status is not Healthy (empty if it is)."},
            },
        },
        "AgentHealth": {
            "type": "object", "required": ["agentId", "status", "timestamp", "services"],
            "properties": {
                "agentId": {"type": "string"},
                "status": {"enum": ["Healthy", "Degraded", "Unhealthy"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "services": services,
            },
        },
        "AgentSkill": {
            "type": "object", "required": ["id", "name", "description", "tags"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "description": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "examples": {"type": "array", "items": {"type": "string"}},
            },
        },
        "AgentCard": {
            "type": "object",
            "required": ["name", "description", "url", "version", "capabilities",
                         "defaultInputModes", "defaultOutputModes", "skills"],
            "properties": {
                "protocolVersion": {"type": "string"},
                "name": {"type": "string"}, "description": {"type": "string"},
                "url": {"type": "string", "format": "uri"},
                "preferredTransport": {"type": "string"},
                "version": {"type": "string"},
                "capabilities": {
                    "type": "object",
                    "required": ["streaming", "pushNotifications", "stateTransitionHistory"],
                    "properties": {k: {"type": "boolean"} for k in
                                   ("streaming", "pushNotifications", "stateTransitionHistory")},
                },
                "defaultInputModes": {"type": "array", "items": {"type": "string"}},
                "defaultOutputModes": {"type": "array", "items": {"type": "string"}},
                "skills": {"type": "array", "items": _ref("AgentSkill")},
            },
        },
        "ChatRequest": {
            "type": "object", "required": ["message"], "additionalProperties": False,
            "properties": {
                "message": {"type": "string", "minLength": 1, "maxLength": max_chars,
                            "pattern": MESSAGE_PATTERN,
                            "description": "The user's message."},
                "sessionId": {"type": "string", "pattern": ID_PATTERN, "maxLength": 128,
                              "description": "Continue this session; omitted starts one."},
            },
        },
        "ChatResponse": {
            "type": "object",
            "required": ["response", "sessionId", "timestamp", "agent", "taskId"],
            "properties": {
                "response": {"type": "string"}, "sessionId": {"type": "string"},
                "timestamp": {"type": "string", "format": "date-time"},
                "agent": {"type": "string"}, "taskId": {"type": "string"},
                "dryRun": {"const": True, "description": "Present on a dry run only."},
                "actions": {"type": "array", "items": _ref("PlannedAction"),
                            "description": "Dry run only: the Home Assistant service calls "
                                           "the turn would have made."},
            },
        },
        "PlannedAction": {
            "type": "object", "required": ["domain", "service", "entityIds", "data"],
            "properties": {
                "domain": {"type": "string"}, "service": {"type": "string"},
                "entityIds": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "object"},
            },
        },
        "HistoryEntry": {
            "type": "object", "required": ["role", "content", "timestamp"],
            "properties": {
                "role": {"enum": ["user", "assistant"]}, "content": {"type": "string"},
                "timestamp": {"type": "string", "format": "date-time"},
                "agent": {"type": "string"},
                "dryRun": {"const": True, "description": "Stored by a dry-run turn."},
            },
        },
        "Session": {
            "type": "object",
            "required": ["sessionId", "createdAt", "lastAccessedAt", "history"],
            "properties": {
                "sessionId": {"type": "string"},
                "createdAt": {"type": "string", "format": "date-time"},
                "lastAccessedAt": {"type": "string", "format": "date-time"},
                "history": {"type": "array", "items": _ref("HistoryEntry")},
            },
        },
        "Message": message,
        "Task": {
            "type": "object", "required": ["kind", "id", "contextId", "status"],
            "properties": {
                "kind": {"const": "task"}, "id": {"type": "string"},
                "contextId": {"type": "string"},
                "status": {
                    "type": "object", "required": ["state", "timestamp"],
                    "properties": {
                        "state": {"enum": ["submitted", "working", "completed", "failed",
                                           "canceled", "rejected", "input-required"]},
                        "timestamp": {"type": "string", "format": "date-time"},
                    },
                },
                "history": {"type": "array", "items": _ref("Message")},
                "artifacts": {"type": "array", "items": {
                    "type": "object", "required": ["artifactId", "parts"],
                    "properties": {"artifactId": {"type": "string"},
                                   "name": {"type": "string"},
                                   "parts": {"type": "array", "items": text_part}},
                }},
                "metadata": {"type": "object"},
            },
        },
        "JsonRpcRequest": {
            "type": "object", "required": ["jsonrpc", "id", "method"],
            "description": "A2A JSON-RPC 2.0 request: message/send, tasks/get, tasks/cancel.",
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": {"type": ["string", "integer"]},
                "method": {"type": "string",
                           "examples": ["message/send", "tasks/get", "tasks/cancel"]},
                "params": {"type": "object"},
            },
        },
        "JsonRpcResponse": {
            "type": "object", "required": ["jsonrpc", "id"],
            "description": "Either result (a Task) or error. Error codes: -32700 parse error, "
                           "-32600 invalid request, -32601 method not found, -32602 invalid "
                           "params, -32603 internal (data.code names the failing dependency), "
                           "-32001 task not found, -32002 task not cancelable, -32003 push "
                           "notifications not supported, -32004 unsupported operation "
                           "(message/stream), -32005 content type not supported.",
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": {"type": ["string", "integer", "null"]},
                "result": _ref("Task"),
                "error": {"type": "object", "required": ["code", "message"],
                          "properties": {"code": {"type": "integer"},
                                         "message": {"type": "string"}, "data": {}}},
            },
        },
    }


def build_openapi(version: str, max_chars: int, agent_ids: list[str],
                  api_key_required: bool) -> dict[str, Any]:
    """The contract of this deployment: with LUCIA_API_KEY set, /api/* and /a2a/* require
    X-Api-Key and document 401; without it they are open and say so."""
    agent = _agent_param(agent_ids)
    session = _id_param("sessionId", "A session id (the chat's sessionId).")
    task = _id_param("taskId", "A task id (the chat's taskId).")
    secured = [{"ApiKey": []}] if api_key_required else []
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
    chat_ok = _json(_ref("ChatResponse"), "The reply, and where it was stored.")
    chat_ok["links"] = chat_links
    paths: dict[str, Any] = {
        "/alive": {"get": {"operationId": "alive", "summary": "Liveness; checks nothing.",
                           "security": [], "responses": {"200": _json(_ref("Alive"), "Alive.")}}},
        "/health": {"get": {
            "operationId": "health", "summary": "Readiness of Redis, Home Assistant, the LLM.",
            "security": [],
            "responses": {"200": _json(_ref("Health"), "Healthy or Degraded."),
                          "503": _json(_ref("Health"),
                                       "Unhealthy: Redis is unreachable or out of memory.")},
        }},
        "/api/agents": {"get": {
            "operationId": "listAgents", "summary": "Agent cards, orchestrator first.",
            "responses": {"200": _json({"type": "array", "items": _ref("AgentCard")},
                                       "Every agent card."), **_errors(401)},
        }},
        "/api/agents/{agentId}": {"get": {
            "operationId": "getAgent", "summary": "One agent card.", "parameters": [agent],
            "responses": {"200": _json(_ref("AgentCard"), "The card."), **_errors(401, 404)},
        }},
        "/api/agents/{agentId}/health": {"get": {
            "operationId": "getAgentHealth", "summary": "An agent's dependencies.",
            "parameters": [agent],
            "responses": {"200": _json(_ref("AgentHealth"), "Healthy or Degraded."),
                          "503": _json(_ref("AgentHealth"), "Unhealthy."),
                          **_errors(401, 404)},
        }},
        "/api/chat": {"post": {
            "operationId": "chat", "summary": "Send a message; get the routed agent's reply.",
            "parameters": [DRY_RUN_PARAMETER],
            "requestBody": {"required": True,
                            "content": {JSON: {"schema": _ref("ChatRequest")}}},
            "responses": {"200": chat_ok,
                          **_errors(400, 401, 413, 415, 502, 503, 504)},
        }},
        "/api/sessions/{sessionId}": {
            "get": {"operationId": "getSession", "summary": "A session's history.",
                    "parameters": [session],
                    "responses": {"200": _json(_ref("Session"), "The session."),
                                  **_errors(400, 401, 404, 503)}},
            "delete": {"operationId": "deleteSession", "summary": "Forget a session.",
                       "parameters": [session],
                       "responses": {"204": {"description": "Deleted."},
                                     **_errors(400, 401, 404, 503)}},
        },
        "/api/tasks/{taskId}": {"get": {
            "operationId": "getTask", "summary": "An A2A task.", "parameters": [task],
            "responses": {"200": _json(_ref("Task"), "The task."),
                          **_errors(400, 401, 404, 503)},
        }},
        "/a2a/{agentId}": {"post": {
            "operationId": "a2aJsonRpc", "summary": "A2A JSON-RPC 2.0 endpoint.",
            "parameters": [agent, DRY_RUN_PARAMETER],
            "requestBody": {"required": True,
                            "content": {JSON: {"schema": _ref("JsonRpcRequest")}}},
            "responses": {"200": _json(_ref("JsonRpcResponse"),
                                       "A JSON-RPC result or error."),
                          **_errors(400, 401, 404, 413, 415)},
        }},
        "/.well-known/agent-card.json": {"get": {
            "operationId": "wellKnownAgentCard", "summary": "The orchestrator's card.",
            "security": [], "responses": {"200": _json(_ref("AgentCard"), "The card.")},
        }},
        "/a2a/{agentId}/.well-known/agent-card.json": {"get": {
            "operationId": "agentWellKnownCard", "summary": "An agent's card (public).",
            "parameters": [agent], "security": [],
            "responses": {"200": _json(_ref("AgentCard"), "The card."), **_errors(404)},
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
        "components": {"schemas": _schemas(max_chars)},
    }
    if api_key_required:
        document["components"]["securitySchemes"] = {"ApiKey": {
            "type": "apiKey", "in": "header", "name": "X-Api-Key",
            "description": "Required on /api/* and /a2a/* (LUCIA_API_KEY is set)."}}
    return document
