"""Domain errors are transport-neutral: the HTTP layer and the A2A layer each map them in
one place, and agree on what a client is told (the code, and when to retry)."""

from __future__ import annotations

from typing import Any

import pytest

from lucia import errors
from lucia.a2a import rpc_error
from lucia.http_errors import headers_for, status_for

CASES: list[tuple[errors.LuciaError, int, int, Any]] = [
    (errors.InvalidInput("empty_message", "message must not be empty"), 400, -32602,
     {"code": "empty_message"}),
    (errors.UnsupportedPart("file"), 400, -32005, {"kind": "file"}),
    (errors.TaskNotFound("task 'x' does not exist"), 404, -32001, None),
    (errors.TaskNotCancelable("task 'x' is already completed"), 409, -32002, None),
    (errors.SessionNotFound("gone"), 404, -32603, {"code": "session_not_found"}),
    (errors.RedisUnavailable("down"), 503, -32603, {"code": "redis_unavailable"}),
    (errors.StorageFull("full", retry_after=17), 503, -32603,
     {"code": "storage_full", "retryAfter": 17}),
    (errors.LlmUnavailable("no"), 502, -32603, {"code": "llm_unavailable"}),
    (errors.LlmTimeout("slow"), 504, -32603, {"code": "llm_timeout"}),
    (errors.AgentTimeout("slow"), 504, -32603, {"code": "agent_timeout"}),
    (errors.LuciaError("?"), 500, -32603, {"code": "internal_error"}),
]


@pytest.mark.parametrize(("error", "status", "rpc_code", "data"), CASES,
                         ids=[type(case[0]).__name__ for case in CASES])
def test_each_layer_maps_a_domain_error_once(error: errors.LuciaError, status: int,
                                             rpc_code: int, data: Any) -> None:
    mapped = rpc_error(error)
    assert status_for(error) == status
    assert (mapped.code, mapped.message, mapped.data) == (rpc_code, error.message, data)


def test_retry_after_travels_in_both_transports() -> None:
    full = errors.StorageFull("full", retry_after=9)
    assert headers_for(full) == {"Retry-After": "9"}
    assert rpc_error(full).data["retryAfter"] == 9
    assert headers_for(errors.RedisUnavailable("down")) is None
