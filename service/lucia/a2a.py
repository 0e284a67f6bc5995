"""A2A JSON-RPC 2.0 at POST /a2a/{agentId}: message/send, tasks/get, tasks/cancel.

JSON-RPC errors travel in a 200 response, as the A2A spec's JSON-RPC binding says; HTTP
statuses are only for what happens before JSON-RPC starts (unknown agent 404, wrong
content type 415, body too large 413, API key 401, a bad X-Lucia-Dry-Run 400). Requests
are read with the models of lucia/schemas/a2a.py; domain errors become JSON-RPC errors in
one place, `rpc_error`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import MISSING, ValidationError

from lucia import keys
from lucia.errors import (
    InvalidInput,
    LuciaError,
    TaskNotCancelable,
    TaskNotFound,
    UnsupportedPart,
)
from lucia.http_input import agent_id_of, dry_run_of, read_body
from lucia.schemas.a2a import (
    JsonRpcError,
    JsonRpcRequest,
    JsonRpcResponse,
    MessageSendParams,
    RpcId,
    TaskIdParams,
    TaskQueryParams,
)
from lucia.validation import MAX_CHARS, validate

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

CODE_BY_ERROR: dict[type[LuciaError], int] = {
    TaskNotFound: TASK_NOT_FOUND,
    TaskNotCancelable: TASK_NOT_CANCELABLE,
    UnsupportedPart: CONTENT_TYPE_NOT_SUPPORTED,
    InvalidInput: INVALID_PARAMS,
}


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def rpc_error(error: LuciaError) -> RpcError:
    """The JSON-RPC error for a domain error. `data` says what the code alone cannot: the
    rule or the failing dependency (the REST API's error code), when to retry, the part
    kind that is not supported."""
    code = next((CODE_BY_ERROR[kind] for kind in type(error).__mro__ if kind in CODE_BY_ERROR),
                INTERNAL_ERROR)
    data: dict[str, Any] | None = {"code": error.code}
    if isinstance(error, UnsupportedPart):
        data = {"kind": error.kind}
    elif isinstance(error, TaskNotFound | TaskNotCancelable):
        data = None  # the JSON-RPC code says it all
    elif error.retry_after is not None:
        data = {"code": error.code, "retryAfter": error.retry_after}
    return RpcError(code, error.message, data)


def _reply(request_id: RpcId | None, result: Any = None,
           error: RpcError | None = None) -> web.Response:
    if error is None:
        # The result is a stored task, passed on as it was stored (tests check it against
        # the contract's Task).
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": result})
    body = JsonRpcResponse(jsonrpc="2.0", id=request_id, error=JsonRpcError(
        code=error.code, message=error.message,
        data=MISSING if error.data is None else error.data))
    return web.json_response(body.model_dump(mode="json"))


async def _message_send(request: web.Request, agent_id: str, raw_params: Any,
                        dry_run: bool) -> Any:
    settings = request.app[keys.SETTINGS]
    params = validate(MessageSendParams, raw_params, {MAX_CHARS: settings.max_message_chars})
    message = params.message
    if message.taskId is not None:
        task = await request.app[keys.STORE].get_task(message.taskId)  # TaskNotFound if absent
        raise RpcError(INVALID_PARAMS, f"task {message.taskId!r} is {task['status']['state']} "
                       "and cannot take more messages; send without taskId to start a new task")
    outcome = await request.app[keys.CONVERSATION].turn(
        message.text, message.contextId, agent_id=agent_id, message_id=message.messageId,
        dry_run=dry_run)
    return outcome.task


async def _tasks_get(request: web.Request, raw_params: Any) -> Any:
    task = await request.app[keys.STORE].get_task(validate(TaskIdParams, raw_params).id)
    # historyLength is read after the lookup: an unknown task is -32001 whatever else the
    # params hold, as clients have always been told.
    history_length = validate(TaskQueryParams, raw_params).historyLength
    if history_length is not None:
        task["history"] = task["history"][-history_length:] if history_length else []
    return task


async def _dispatch(request: web.Request, agent_id: str, envelope: JsonRpcRequest,
                    dry_run: bool) -> Any:
    method = envelope.method
    params = None if envelope.params is MISSING else envelope.params
    if method == "message/send":
        return await _message_send(request, agent_id, params, dry_run)
    if method == "tasks/get":
        return await _tasks_get(request, params)
    if method == "tasks/cancel":
        task_id = validate(TaskIdParams, params).id
        return await request.app[keys.CONVERSATION].cancel_task(task_id)
    if method in UNSUPPORTED_METHODS:
        raise RpcError(UNSUPPORTED_OPERATION, f"{method} is not supported by this agent")
    if method in PUSH_METHODS:
        raise RpcError(PUSH_NOT_SUPPORTED, "push notifications are not supported")
    raise RpcError(METHOD_NOT_FOUND, f"method {method!r} not found")


def _envelope(body: Any) -> JsonRpcRequest | web.Response:
    """The request, or the -32600 reply to a request that is not JSON-RPC 2.0."""
    try:
        return JsonRpcRequest.model_validate(body)
    except ValidationError as exc:
        failed = {error["loc"][:1] for error in exc.errors()}
    if () in failed:
        return _reply(None, error=RpcError(INVALID_REQUEST, "the request must be a JSON-RPC "
                                                            "object (batches are not supported)"))
    # Echo the id when it is a valid one: the client can then match the error to its call.
    request_id = None if ("id",) in failed else body["id"]
    return _reply(request_id, error=RpcError(INVALID_REQUEST, 'a request needs jsonrpc "2.0", '
                                                              "a string method and a string "
                                                              "or integer id"))


async def handle(request: web.Request) -> web.Response:
    agent_id = agent_id_of(request)
    dry_run = dry_run_of(request)  # a bad header is an HTTP 400, before any JSON-RPC
    raw = await read_body(request, request.app[keys.SETTINGS].max_body_bytes)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _reply(None, error=RpcError(PARSE_ERROR, f"parse error: {exc}"))
    envelope = _envelope(body)
    if isinstance(envelope, web.Response):
        return envelope
    try:
        result = await _dispatch(request, agent_id, envelope, dry_run)
    except RpcError as exc:
        return _reply(envelope.id, error=exc)
    except LuciaError as exc:
        return _reply(envelope.id, error=rpc_error(exc))
    return _reply(envelope.id, result=result)
