"""Domain errors. Store, LLM and Home Assistant code raise these; only the HTTP layer
turns them into status codes (see `http_errors.py`)."""

from __future__ import annotations


class LuciaError(Exception):
    """Base of every error the service raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
