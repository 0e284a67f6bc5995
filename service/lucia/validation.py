"""Reading and checking request bodies and path parameters; raises ApiError."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError

from lucia.http_errors import ApiError

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_ID = re.compile(ID_PATTERN)
CHAT_FIELDS = frozenset({"message", "sessionId"})


def check_id(value: str, what: str, code: str) -> str:
    # fullmatch: `$` would also accept a trailing newline, which the contract's (ECMAScript)
    # pattern refuses.
    if not _ID.fullmatch(value):
        raise ApiError(400, code, f"{what} must match {ID_PATTERN} (at most 128 characters)")
    return value


def check_json_content_type(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type must be application/json, not "
                       f"{request.content_type or 'missing'}")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, after the content-type check and within `limit` bytes (declared or
    streamed: aiohttp's client_max_size stops a chunked body at the limit)."""
    check_json_content_type(request)
    too_large = ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    except (ConnectionError, RequestPayloadError, BadHttpMessage) as exc:
        # The client went away or sent a broken chunked body: its fault, not ours (no
        # ERROR, no 500); the answer is a 400 it may never read.
        raise ApiError(400, "invalid_request",
                       f"the request body ended early ({type(exc).__name__})") from None


async def read_json(request: web.Request, limit: int) -> Any:
    """The body as JSON, after the content-type and size checks."""
    raw = await read_body(request, limit)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None


# A message must hold a character that is whitespace by neither Python's rule (str.isspace,
# which also counts the separators U+001C-U+001F and U+0085) nor ECMAScript's (the
# contract's regex dialect, which also counts U+FEFF). The contract's pattern lists the
# same characters, so the two can never disagree about an "empty" message.
BLANK = frozenset("\u001c\u001d\u001e\u001f\u0085\ufeff")
MESSAGE_PATTERN = r"[^\s\u001c-\u001f\u0085\ufeff]"


def is_blank(value: str) -> bool:
    return all(ch.isspace() or ch in BLANK for ch in value)


def check_message(value: Any, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ApiError(400, "invalid_request", "message must be a string")
    if is_blank(value):
        raise ApiError(400, "empty_message", "message must not be empty")
    if len(value) > max_chars:
        raise ApiError(400, "message_too_long",
                       f"message is {len(value)} characters; the limit is {max_chars}")
    return value


def parse_chat_request(body: Any, max_chars: int) -> tuple[str, str | None]:
    """(message, sessionId or None) from a /api/chat body."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "request body must be a JSON object")
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    if "message" not in body:
        raise ApiError(400, "invalid_request", "message is required")
    message = check_message(body["message"], max_chars)
    session_id = body.get("sessionId")
    if "sessionId" in body:
        if not isinstance(session_id, str):
            raise ApiError(400, "invalid_session_id", "sessionId must be a string")
        check_id(session_id, "sessionId", "invalid_session_id")
    return message, session_id


DRY_RUN_HEADER = "X-Lucia-Dry-Run"


def parse_dry_run(headers: Mapping[str, str]) -> bool:
    """`X-Lucia-Dry-Run: true` asks for a turn without side effects; absent or `false` is a
    normal turn; anything else is refused (never silently treated as a real turn)."""
    values = headers.getall(DRY_RUN_HEADER, []) if hasattr(headers, "getall") else (
        [headers[DRY_RUN_HEADER]] if DRY_RUN_HEADER in headers else [])
    if not values:
        return False
    if len(values) > 1:
        raise ApiError(400, "invalid_request", f"{DRY_RUN_HEADER} is given {len(values)} "
                                               "times; give it once")
    if values[0] in ("true", "false"):  # exactly the contract's enum
        return values[0] == "true"
    raise ApiError(400, "invalid_request",
                   f"{DRY_RUN_HEADER} must be true or false, not {values[0][:40]!r}")
