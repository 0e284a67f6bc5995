"""The REST API's bodies: /alive, /health, /api/chat, /api/sessions, errors."""

from __future__ import annotations

import functools
from typing import Annotated, Any, ClassVar, Literal

from pydantic import MISSING, ConfigDict, Field, create_model

from lucia.capacity import StorageState
from lucia.health import HomeAssistantState, LlmState, RedisState, Status
from lucia.schemas.base import Contract, Refusal, Refusals, Timestamp
from lucia.validation import Id, MessageText, id_refusal_text


class ErrorDetail(Contract):
    code: str
    message: str


class Error(Contract):
    """Every error of the REST API: a stable code and a sentence for people."""

    error: ErrorDetail


class Alive(Contract):
    status: Literal["Alive"]
    timestamp: Timestamp


class Services(Contract):
    redis: RedisState
    homeAssistant: HomeAssistantState
    llm: LlmState
    storage: StorageState


class Health(Contract):
    status: Status
    timestamp: Timestamp
    version: str
    services: Services
    reasons: list[str] = Field(
        description="Why the status is not Healthy (empty if it is).")


class AgentHealth(Contract):
    agentId: str
    status: Status
    timestamp: Timestamp
    services: Services


class ChatRequest(Contract):
    """A message for the orchestrator; without sessionId a new session is opened."""

    # An unknown field is refused rather than ignored: a typo must not pass silently.
    model_config = ConfigDict(extra="forbid")
    refusals: ClassVar[Refusals] = {
        (): Refusal("invalid_request", "request body must be a JSON object"),
        ("message",): Refusal("invalid_request", "message must be a string",
                              missing="message is required"),
        ("sessionId",): Refusal("invalid_session_id", "sessionId must be a string",
                                invalid=id_refusal_text("sessionId")),
    }

    message: Annotated[str, MessageText()] = Field(description="The user's message.")
    # MISSING, not None: an explicit null is refused (only absence opens a new session).
    sessionId: Id | MISSING = Field(MISSING, description=(
        "Continue this session; omitted starts one."))

    @property
    def session_id(self) -> str | None:
        return None if self.sessionId is MISSING else self.sessionId


@functools.cache
def chat_request(max_chars: int) -> type[ChatRequest]:
    """ChatRequest with LUCIA_MAX_MESSAGE_CHARS in its rule, and so in the contract."""
    return create_model(
        "ChatRequest", __base__=ChatRequest, __module__=__name__, __doc__=ChatRequest.__doc__,
        message=(Annotated[str, MessageText(max_chars)], Field(description="The user's message.")))


class PlannedAction(Contract):
    domain: str
    service: str
    entityIds: list[str]
    data: dict[str, Any]


class ChatResponse(Contract):
    response: str
    sessionId: str
    timestamp: Timestamp
    agent: str
    taskId: str
    dryRun: Literal[True] | MISSING = Field(MISSING, description="Present on a dry run only.")
    actions: list[PlannedAction] | MISSING = Field(MISSING, description=(
        "Dry run only: the Home Assistant service calls the turn would have made."))


class ChatToken(Contract):
    """A piece of the reply, streamed as it is produced (the data of an `event: token`)."""

    text: str


class HistoryEntry(Contract):
    role: Literal["user", "assistant"]
    content: str
    timestamp: Timestamp
    agent: str | MISSING = MISSING
    dryRun: Literal[True] | MISSING = Field(MISSING, description="Stored by a dry-run turn.")


class Session(Contract):
    sessionId: str
    createdAt: Timestamp
    lastAccessedAt: Timestamp
    history: list[HistoryEntry]

