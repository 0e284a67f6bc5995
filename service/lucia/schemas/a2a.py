"""A2A (protocol 0.3.0) objects as lucia speaks them: agent cards, messages, tasks, the
streaming events of message/stream, and the JSON-RPC 2.0 envelope of POST /a2a/{agentId}
with the params of each method."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import MISSING, Field, SkipValidation, StrictInt, ValidationInfo, model_validator
from pydantic.functional_validators import AfterValidator
from pydantic_core import PydanticCustomError

from lucia.schemas.base import Contract, Refusal, Refusals, Timestamp, Uri
from lucia.validation import MAX_CHARS, Id, check_message_text, id_refusal_text

# --- agent cards -----------------------------------------------------------------------


class AgentSkill(Contract):
    id: str
    name: str
    description: str
    tags: list[str]
    examples: list[str]


class AgentCapabilities(Contract):
    streaming: bool
    pushNotifications: bool
    stateTransitionHistory: bool


class AgentCard(Contract):
    protocolVersion: str
    name: str
    description: str
    url: Uri
    preferredTransport: str
    version: str
    capabilities: AgentCapabilities
    defaultInputModes: list[str]
    defaultOutputModes: list[str]
    skills: list[AgentSkill]


# --- messages and tasks ----------------------------------------------------------------


class TextPart(Contract):
    kind: Literal["text"]
    text: str

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        # Another kind of part is not malformed but unsupported: A2A's -32005, not -32602,
        # whatever else the part holds.
        if isinstance(data, dict) and data.get("kind") != "text":
            raise PydanticCustomError("unsupported_part", "only text parts are supported",
                                      {"kind": data.get("kind")})
        return data


class Message(Contract):
    kind: Literal["message"]
    messageId: str
    role: Literal["user", "agent"]
    parts: list[TextPart]
    contextId: str | MISSING = MISSING
    taskId: str | MISSING = MISSING


class TaskStatus(Contract):
    state: Literal["submitted", "working", "completed", "failed", "canceled", "rejected",
                   "input-required"]
    timestamp: Timestamp


class Artifact(Contract):
    artifactId: str
    name: str | MISSING = MISSING
    parts: list[TextPart]


class Task(Contract):
    kind: Literal["task"]
    id: str
    contextId: str
    status: TaskStatus
    history: list[Message] | MISSING = MISSING
    artifacts: list[Artifact] | MISSING = MISSING
    metadata: dict[str, Any] | MISSING = MISSING


def _one_text(parts: list[TextPart], info: ValidationInfo) -> list[TextPart]:
    """The parts' text, joined, follows the rules of a chat message (lucia/validation.py)."""
    check_message_text("\n".join(part.text for part in parts), (info.context or {})[MAX_CHARS])
    return parts


class TaskStatusUpdateEvent(Contract):
    """message/stream: the task's state changed; `final` on the last event of the stream."""

    kind: Literal["status-update"]
    taskId: str
    contextId: str
    status: TaskStatus
    final: bool


class TaskArtifactUpdateEvent(Contract):
    """message/stream: a piece of the reply. The first piece of an artifact has
    `append: false`, the rest `append: true` (add the parts to the artifact with the same
    artifactId); `lastChunk: true` closes it."""

    kind: Literal["artifact-update"]
    taskId: str
    contextId: str
    artifact: Artifact
    append: bool
    lastChunk: bool


# --- method params ---------------------------------------------------------------------


class UserMessage(Contract):
    """The message of message/send and message/stream. Other A2A fields (kind, metadata,
    ...) are ignored."""

    role: Literal["user"]
    messageId: Annotated[str, Field(min_length=1)]
    parts: Annotated[list[TextPart], Field(min_length=1), AfterValidator(_one_text)]
    contextId: Id | None = Field(None, description="The session to continue.")
    taskId: Id | None = Field(None, description=(
        "Tasks complete within a call, so a message naming one is refused."))

    @property
    def text(self) -> str:
        return "\n".join(part.text for part in self.parts)


_NOT_AN_OBJECT = Refusal("invalid_request", "params must be an object")
# The words JSON-RPC clients have always had for a bad task id (message/send's taskId too).
_TASK_ID = Refusal("invalid_task_id", "params.id must be a task id string",
                   invalid=id_refusal_text("params.id"))


class MessageSendParams(Contract):
    """params of message/send and message/stream."""

    refusals: ClassVar[Refusals] = {
        (): _NOT_AN_OBJECT,
        ("message",): Refusal("invalid_request", "params.message must be an object"),
        ("message", "role"): Refusal("invalid_request", 'params.message.role must be "user"'),
        ("message", "messageId"): Refusal(
            "invalid_request", "params.message.messageId must be a non-empty string"),
        ("message", "parts"): Refusal(
            "invalid_request", "params.message.parts must be a non-empty list"),
        ("message", "parts", "*"): Refusal("invalid_request", "each part must be an object"),
        ("message", "parts", "*", "text"): Refusal(
            "invalid_request", "a text part needs a string text"),
        ("message", "contextId"): Refusal(
            "invalid_session_id", "params.message.contextId must be a string",
            invalid=id_refusal_text("contextId")),
        ("message", "taskId"): _TASK_ID,
    }

    message: UserMessage


class TaskIdParams(Contract):
    """params of tasks/cancel."""

    refusals: ClassVar[Refusals] = {(): _NOT_AN_OBJECT, ("id",): _TASK_ID}

    id: Id


class TaskQueryParams(TaskIdParams):
    """params of tasks/get."""

    refusals: ClassVar[Refusals] = {
        **TaskIdParams.refusals,
        ("historyLength",): Refusal(
            "invalid_request", "params.historyLength must be a non-negative integer"),
    }

    historyLength: Annotated[StrictInt, Field(ge=0)] | None = Field(None, description=(
        "Return only this many of the most recent history messages."))


# --- the JSON-RPC envelope -------------------------------------------------------------

RpcId = str | int


class JsonRpcRequest(Contract):
    """A2A JSON-RPC 2.0 request: message/send and message/stream (params:
    MessageSendParams), tasks/get (TaskQueryParams), tasks/cancel (TaskIdParams)."""

    jsonrpc: Literal["2.0"]
    id: RpcId
    method: str = Field(examples=["message/send", "tasks/get", "tasks/cancel"])
    # Checked by each method against its own params model: wrong params are JSON-RPC's
    # -32602 for that method, not an invalid request.
    params: SkipValidation[dict[str, Any]] | MISSING = MISSING


class JsonRpcError(Contract):
    code: int
    message: str
    data: Any | MISSING = MISSING


class JsonRpcResponse(Contract):
    """Either result (a Task) or error. Error codes: -32700 parse error, -32600 invalid
    request, -32601 method not found, -32602 invalid params (data.code names the rule, as
    the REST API's codes do), -32603 internal (data.code names the failing dependency;
    storage_full adds data.retryAfter in seconds), -32001 task not found, -32002 task not
    cancelable, -32003 push notifications not supported, -32004 unsupported operation
    (tasks/resubscribe), -32005 content type not supported (data.kind)."""

    jsonrpc: Literal["2.0"]
    id: RpcId | None
    result: Task | MISSING = MISSING
    error: JsonRpcError | MISSING = MISSING


StreamResult = Annotated[Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent,
                         Field(discriminator="kind")]


class JsonRpcStreamResponse(Contract):
    """One event of message/stream (the data of each server-sent event), in this order:
    result Task (submitted), TaskStatusUpdateEvent (working), TaskArtifactUpdateEvents
    with the reply as it is produced, TaskStatusUpdateEvent (completed, final: true) once
    the task is stored. A failure ends the stream with an error instead (codes as in
    JsonRpcResponse), and nothing is stored."""

    jsonrpc: Literal["2.0"]
    id: RpcId | None
    result: StreamResult | MISSING = MISSING
    error: JsonRpcError | MISSING = MISSING
