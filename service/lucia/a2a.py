"""A2A JSON-RPC 2.0 at POST /a2a/{agentId}: message/send, message/stream, tasks/get,
tasks/cancel.

JSON-RPC errors travel in a 200 response, as the A2A spec's JSON-RPC binding says; HTTP
statuses are only for what happens before JSON-RPC starts (unknown agent 404, wrong
content type 415, body too large 413, API key 401, a bad X-Lucia-Dry-Run 400). Requests
are read with the models of lucia/schemas/a2a.py; domain errors become JSON-RPC errors in
one place, `rpc_error`.

message/stream answers server-sent events, each a JSON-RPC response (A2A's
SendStreamingMessageResponse): the Task, its status and artifact updates, and either the
final completed status or an error. A request it cannot take (bad params, a taskId) is
answered as message/send answers it, in one JSON response; once the turn has started,
every failure is an event of the stream, as A2A clients read it.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any, Literal

from aiohttp import web
from pydantic import MISSING, ValidationError

from lucia import keys
from lucia.conversation import StreamedTurn, utc_now
from lucia.errors import (
    InvalidInput,
    LuciaError,
    TaskNotCancelable,
    TaskNotFound,
    UnsupportedPart,
)
from lucia.http_input import agent_id_of, dry_run_of, read_body
from lucia.schemas.a2a import (
    Artifact,
    JsonRpcError,
    JsonRpcRequest,
    JsonRpcResponse,
    JsonRpcStreamResponse,
    Message,
    MessageSendParams,
    RpcId,
    Task,
    TaskArtifactUpdateEvent,
    TaskIdParams,
    TaskQueryParams,
    TaskStatus,
    TaskStatusUpdateEvent,
    TextPart,
    UserMessage,
)
from lucia.sse import EventStream
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

# Tasks complete within the call that starts them: there is no running task to resubscribe.
UNSUPPORTED_METHODS = {"tasks/resubscribe"}
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


def _json_rpc_error(error: RpcError) -> JsonRpcError:
    return JsonRpcError(code=error.code, message=error.message,
                        data=MISSING if error.data is None else error.data)


def _reply(request_id: RpcId | None, result: Any = None,
           error: RpcError | None = None) -> web.Response:
    if error is None:
        # The result is a stored task, passed on as it was stored (tests check it against
        # the contract's Task).
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": result})
    body = JsonRpcResponse(jsonrpc="2.0", id=request_id, error=_json_rpc_error(error))
    return web.json_response(body.model_dump(mode="json"))


async def _message_params(request: web.Request, raw_params: Any) -> UserMessage:
    """The message of message/send or message/stream, or why it cannot be taken."""
    settings = request.app[keys.SETTINGS]
    params = validate(MessageSendParams, raw_params, {MAX_CHARS: settings.max_message_chars})
    message = params.message
    if message.taskId is not None:
        task = await request.app[keys.STORE].get_task(message.taskId)  # TaskNotFound if absent
        raise RpcError(INVALID_PARAMS, f"task {message.taskId!r} is {task['status']['state']} "
                       "and cannot take more messages; send without taskId to start a new task")
    return message


async def _message_send(request: web.Request, agent_id: str, raw_params: Any,
                        dry_run: bool) -> Any:
    message = await _message_params(request, raw_params)
    outcome = await request.app[keys.CONVERSATION].turn(
        message.text, message.contextId, agent_id=agent_id, message_id=message.messageId,
        dry_run=dry_run)
    return outcome.task


def _artifact_update(streamed: StreamedTurn, parts: list[TextPart], *, append: bool,
                     last: bool) -> TaskArtifactUpdateEvent:
    return TaskArtifactUpdateEvent(
        kind="artifact-update", taskId=streamed.task_id, contextId=streamed.session_id,
        artifact=Artifact(artifactId=streamed.artifact_id, name="response", parts=parts),
        append=append, lastChunk=last)


def _status_update(streamed: StreamedTurn, state: Literal["working", "completed"],
                   timestamp: str, final: bool) -> TaskStatusUpdateEvent:
    return TaskStatusUpdateEvent(
        kind="status-update", taskId=streamed.task_id, contextId=streamed.session_id,
        status=TaskStatus(state=state, timestamp=timestamp), final=final)


async def _message_stream(request: web.Request, agent_id: str, request_id: RpcId,
                          message: UserMessage, dry_run: bool) -> web.StreamResponse:
    """The turn as A2A streaming events: the Task (submitted), a status update (working),
    an artifact update per piece of the reply as it is produced (the first with
    `append: false`, then `append: true`; an empty last one with `lastChunk: true` once
    the turn is stored), and the completed status with `final: true`. A failure ends
    the stream with a JSON-RPC error event, and nothing is stored."""
    stream = EventStream(request, "a2a")

    async def send(event: Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent,
                   reply: bool = False) -> None:
        await stream.send(JsonRpcStreamResponse(jsonrpc="2.0", id=request_id, result=event),
                          reply=reply)

    async def produce() -> bool:
        streamed = await request.app[keys.CONVERSATION].stream_turn(
            message.text, message.contextId, agent_id=agent_id,
            message_id=message.messageId, dry_run=dry_run)
        await send(Task(kind="task", id=streamed.task_id, contextId=streamed.session_id,
                        status=TaskStatus(state="submitted", timestamp=streamed.started_at),
                        history=[Message.model_validate(streamed.user_message)]))
        await send(_status_update(streamed, "working", utc_now(), final=False))
        append = False
        async with aclosing(streamed.chunks) as chunks:
            # A client gone before the last pull stores nothing: that pull writes the turn.
            while not stream.client_gone and (chunk := await anext(chunks, None)) is not None:
                await send(_artifact_update(streamed, [TextPart(kind="text", text=chunk)],
                                            append=append, last=False), reply=True)
                append = True
        if streamed.outcome is None:
            return False
        await send(_artifact_update(streamed, [], append=True, last=True))
        await send(_status_update(streamed, "completed", streamed.outcome.timestamp,
                                  final=True))
        return True

    async def send_error(error: LuciaError | None) -> None:
        rpc = rpc_error(error) if error is not None else RpcError(
            INTERNAL_ERROR, "an unexpected error occurred", {"code": "internal_error"})
        await stream.send(JsonRpcStreamResponse(jsonrpc="2.0", id=request_id,
                                                error=_json_rpc_error(rpc)))

    return await stream.serve(produce, send_error)


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


async def handle(request: web.Request) -> web.StreamResponse:
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
        if envelope.method == "message/stream":
            params = None if envelope.params is MISSING else envelope.params
            message = await _message_params(request, params)
            return await _message_stream(request, agent_id, envelope.id, message, dry_run)
        result = await _dispatch(request, agent_id, envelope, dry_run)
    except RpcError as exc:
        return _reply(envelope.id, error=exc)
    except LuciaError as exc:
        return _reply(envelope.id, error=rpc_error(exc))
    return _reply(envelope.id, result=result)
