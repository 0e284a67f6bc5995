"""Domain errors. Validation, store, LLM and Home Assistant code raise these; the HTTP layer
(`http_errors.py`) and the A2A layer (`a2a.py`) each map them once, to a status or to a
JSON-RPC error."""

from __future__ import annotations


class LuciaError(Exception):
    """Base of every error the service raises on purpose."""

    code = "internal_error"
    # Seconds after which the same request may succeed; None: retrying will not help.
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LuciaError):
    """A request broke the contract; `code` names how (invalid_request, empty_message,
    message_too_long, unknown_field, invalid_session_id, invalid_task_id)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UnsupportedPart(InvalidInput):
    """A message part of a kind lucia does not take (it reads text parts only)."""

    def __init__(self, kind: object) -> None:
        super().__init__("unsupported_part", "only text parts are supported")
        self.kind = kind


class RedisUnavailable(LuciaError):
    code = "redis_unavailable"


class StorageFull(LuciaError):
    """Redis is at its high watermark (new sessions refused) or out of memory."""

    code = "storage_full"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LlmUnavailable(LuciaError):
    code = "llm_unavailable"


class LlmTimeout(LuciaError):
    code = "llm_timeout"


class AgentTimeout(LuciaError):
    code = "agent_timeout"


class HomeAssistantUnavailable(LuciaError):
    code = "home_assistant_unavailable"


class HomeAssistantNotConfigured(LuciaError):
    code = "home_assistant_not_configured"


class NotFound(LuciaError):
    code = "not_found"


class SessionNotFound(NotFound):
    code = "session_not_found"


class TaskNotFound(NotFound):
    code = "task_not_found"


class AgentNotFound(NotFound):
    code = "agent_not_found"


class TaskNotCancelable(LuciaError):
    code = "task_not_cancelable"
