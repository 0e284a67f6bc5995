"""The one place that knows which HTTP status each error gets."""

from __future__ import annotations

from aiohttp import web

from lucia import errors
from lucia.schemas.rest import Error, ErrorDetail

STATUS_BY_ERROR: dict[type[errors.LuciaError], int] = {
    errors.InvalidInput: 400,
    errors.NotFound: 404,
    errors.TaskNotCancelable: 409,
    errors.RedisUnavailable: 503,
    errors.StorageFull: 503,
    errors.LlmUnavailable: 502,
    errors.LlmTimeout: 504,
    errors.AgentTimeout: 504,
    errors.HomeAssistantUnavailable: 502,
    errors.HomeAssistantNotConfigured: 503,
}


class ApiError(Exception):
    """A refusal only HTTP has words for: the API key, the content type, the body's size
    and its JSON encoding."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def status_for(error: errors.LuciaError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[kind]
    return 500


def headers_for(error: errors.LuciaError) -> dict[str, str] | None:
    """Headers an error carries: when to retry (a refusal for lack of storage)."""
    if error.retry_after is not None:
        return {"Retry-After": str(error.retry_after)}
    return None


def json_error(status: int, code: str, message: str,
               headers: dict[str, str] | None = None) -> web.Response:
    body = Error(error=ErrorDetail(code=code, message=message))
    return web.json_response(body.model_dump(mode="json"), status=status, headers=headers)
