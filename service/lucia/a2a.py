"""A2A JSON-RPC 2.0 at POST /a2a/{agentId}: message/send, tasks/get, tasks/cancel.

JSON-RPC errors travel in a 200 response, as the A2A spec's JSON-RPC binding says; HTTP
statuses are only for what happens before JSON-RPC starts (unknown agent 404, wrong
content type 415, body too large 413, API key 401).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from lucia import keys
from lucia.errors import LuciaError, StorageFull, TaskNotCancelable, TaskNotFound
from lucia.http_errors import ApiError
from lucia.validation import check_id, check_message, parse_dry_run, read_body
from lucia.views import agent_id_of

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
PUSH_NOT_SUPPORTED = -32003
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005

UNSUPPORTED_METHODS = {"message/stream", "tasks/resubscribe"}
PUSH_METHODS = {"tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/get",
                "tasks/pushNotificationConfig/list", "tasks/pushNotificationConfig/delete"}


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _error(request_id: Any, error: RpcError) -> web.Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return web.json_response({"jsonrpc": "2.0", "id": request_id, "error": body})


def _params(envelope: dict[str, Any]) -> dict[str, Any]:
    params = envelope.get("params")
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object")
    return params


def _task_id(params: dict[str, Any]) -> str:
    task_id = params.get("id")
    if not isinstance(task_id, str):
        raise RpcError(INVALID_PARAMS, "params.id must be a task id string")
    try:
        return check_id(task_id, "params.id", "invalid_task_id")
    except ApiError as exc:
        raise RpcError(INVALID_PARAMS, exc.message) from None


def _message_text(params: dict[str, Any], max_chars: int) -> tuple[str, dict[str, Any]]:
    message = params.get("message")
    if not isinstance(message, dict):
        raise RpcError(INVALID_PARAMS, "params.message must be an object")
    if message.get("role") != "user":
        raise RpcError(INVALID_PARAMS, 'params.message.role must be "user"')
    if not isinstance(message.get("messageId"), str) or not message["messageId"]:
        raise RpcError(INVALID_PARAMS, "params.message.messageId must be a non-empty string")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RpcError(INVALID_PARAMS, "params.message.parts must be a non-empty list")
    texts = []
    for part in parts:
        if not isinstance(part, dict):
            raise RpcError(INVALID_PARAMS, "each part must be an object")
        if part.get("kind") != "text":
            raise RpcError(CONTENT_TYPE_NOT_SUPPORTED, "only text parts are supported",
                           {"kind": part.get("kind")})
        if not isinstance(part.get("text"), str):
            raise RpcError(INVALID_PARAMS, "a text part needs a string text")
        texts.append(part["text"])
    try:
        text = check_message("\n".join(texts), max_chars)
    except ApiError as exc:
        raise RpcError(INVALID_PARAMS, exc.message, {"code": exc.code}) from None
    return text, message


async def _message_send(request: web.Request, agent_id: str, params: dict[str, Any]) -> Any:
    settings = request.app[keys.SETTINGS]
    text, message = _message_text(params, settings.max_message_chars)
    context_id = message.get("contextId")
    if context_id is not None:
        if not isinstance(context_id, str):
            raise RpcError(INVALID_PARAMS, "params.message.contextId must be a string")
        try:
            check_id(context_id, "contextId", "invalid_session_id")
        except ApiError as exc:
            raise RpcError(INVALID_PARAMS, exc.message) from None
    if message.get("taskId") is not None:
        task_id = _task_id({"id": message["taskId"]})
        task = await request.app[keys.STORE].get_task(task_id)  # TaskNotFound if absent
        raise RpcError(INVALID_PARAMS, f"task {task_id!r} is {task['status']['state']} and "
                       "cannot take more messages; send without taskId to start a new task")
    outcome = await request.app[keys.CONVERSATION].turn(
        text, context_id, agent_id=agent_id, message_id=message["messageId"],
        dry_run=parse_dry_run(request.headers))
    return outcome.task


async def _tasks_get(request: web.Request, params: dict[str, Any]) -> Any:
    task = await request.app[keys.STORE].get_task(_task_id(params))
    history_length = params.get("historyLength")
    if history_length is not None:
        if not isinstance(history_length, int) or isinstance(history_length, bool) \
                or history_length < 0:
            raise RpcError(INVALID_PARAMS, "params.historyLength must be a non-negative integer")
        task["history"] = task["history"][-history_length:] if history_length else []
    return task


async def _dispatch(request: web.Request, agent_id: str, envelope: dict[str, Any]) -> Any:
    method = envelope["method"]
    if method == "message/send":
        return await _message_send(request, agent_id, _params(envelope))
    if method == "tasks/get":
        return await _tasks_get(request, _params(envelope))
    if method == "tasks/cancel":
        return await request.app[keys.CONVERSATION].cancel_task(_task_id(_params(envelope)))
    if method in UNSUPPORTED_METHODS:
        raise RpcError(UNSUPPORTED_OPERATION, f"{method} is not supported by this agent")
    if method in PUSH_METHODS:
        raise RpcError(PUSH_NOT_SUPPORTED, "push notifications are not supported")
    raise RpcError(METHOD_NOT_FOUND, f"method {method!r} not found")


def _valid_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


async def handle(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    parse_dry_run(request.headers)  # a bad header is an HTTP 400, before any JSON-RPC
    raw = await read_body(request, request.app[keys.SETTINGS].max_body_bytes)
    try:
        envelope = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(None, RpcError(PARSE_ERROR, f"parse error: {exc}"))
    if not isinstance(envelope, dict):
        return _error(None, RpcError(INVALID_REQUEST, "the request must be a JSON-RPC object "
                                                      "(batches are not supported)"))
    request_id = envelope.get("id")
    if (envelope.get("jsonrpc") != "2.0" or not isinstance(envelope.get("method"), str)
            or not _valid_id(request_id)):
        return _error(request_id if _valid_id(request_id) else None,
                      RpcError(INVALID_REQUEST, 'a request needs jsonrpc "2.0", a string '
                                                "method and a string or integer id"))
    try:
        result = await _dispatch(request, agent_id, envelope)
    except RpcError as exc:
        return _error(request_id, exc)
    except TaskNotFound as exc:
        return _error(request_id, RpcError(TASK_NOT_FOUND, exc.message))
    except TaskNotCancelable as exc:
        return _error(request_id, RpcError(TASK_NOT_CANCELABLE, exc.message))
    except LuciaError as exc:
        data: dict[str, Any] = {"code": exc.code}
        if isinstance(exc, StorageFull):
            data["retryAfter"] = exc.retry_after
        return _error(request_id, RpcError(INTERNAL_ERROR, exc.message, data))
    return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": result})

