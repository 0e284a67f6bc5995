"""Reading a request: its content type, body size and JSON, the dry-run header, and the
ids in its path. What only HTTP has words for is an ApiError (415, 413, invalid_json, a bad
header); a path id that breaks the contract is the domain's InvalidInput."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError
from pydantic import TypeAdapter, ValidationError

from lucia import keys
from lucia.errors import AgentNotFound, InvalidInput
from lucia.http_errors import ApiError
from lucia.validation import Id, id_refusal_text

DRY_RUN_HEADER = "X-Lucia-Dry-Run"
_ID = TypeAdapter(Id)


def path_id(request: web.Request, name: str, code: str) -> str:
    """The path parameter `name` (a session or task id), or InvalidInput with `code`."""
    value = request.match_info[name]
    try:
        return _ID.validate_python(value)
    except ValidationError:
        raise InvalidInput(code, id_refusal_text(name)) from None


def agent_id_of(request: web.Request) -> str:
    agent_id = request.match_info["agentId"]
    if agent_id not in request.app[keys.REGISTRY]:
        raise AgentNotFound(f"agent {agent_id!r} does not exist; see GET /api/agents")
    return agent_id


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


def dry_run_of(request: web.Request) -> bool:
    """`X-Lucia-Dry-Run: true` asks for a turn without side effects; absent or `false` is a
    normal turn; anything else is refused (never silently treated as a real turn)."""
    values = request.headers.getall(DRY_RUN_HEADER, [])
    if not values:
        return False
    if len(values) > 1:
        raise ApiError(400, "invalid_request", f"{DRY_RUN_HEADER} is given {len(values)} "
                                               "times; give it once")
    if values[0] in ("true", "false"):  # exactly the contract's enum
        return values[0] == "true"
    raise ApiError(400, "invalid_request",
                   f"{DRY_RUN_HEADER} must be true or false, not {values[0][:40]!r}")
