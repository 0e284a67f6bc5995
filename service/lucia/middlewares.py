"""Request id, access log and metrics; the API key; errors as JSON."""

from __future__ import annotations

import hmac
import logging
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from lucia import keys
from lucia.errors import InvalidInput, LuciaError
from lucia.http_errors import ApiError, headers_for, json_error, status_for
from lucia.logs import request_id_var

log = logging.getLogger("lucia.http")

PROTECTED_PREFIXES = ("/api/", "/a2a/")
AGENT_CARD_SUFFIX = "/.well-known/agent-card.json"
_REQUEST_ID_MAX = 128
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type", 400: "bad_request"}


# Probes that answer well are logged at DEBUG, the rest of the requests at INFO. Docker's
# healthcheck and metric scrapers call them every few seconds, and through Docker's
# json-file log driver each line costs dockerd more CPU than the answer itself: the dev
# stack's /health went from 23% to 62% of a bare hello-world's throughput without it
# (docs/performance.md). A probe that fails (a 503 /health) is still logged at INFO.
PROBES = frozenset({"/alive", "/health", "/metrics"})


def _route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: tag the request, time it, count it, log one line for it."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if 0 < len(incoming) <= _REQUEST_ID_MAX and incoming.isprintable() \
        else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        request.app[keys.METRICS].observe_request(request.method, _route_label(request),
                                                  status, elapsed)
        level = logging.DEBUG if request.path in PROBES and status < 400 else logging.INFO
        if log.isEnabledFor(level):  # the line's fields are not built for nothing
            log.log(level, "request", extra={"method": request.method, "path": request.path,
                                             "status": status,
                                             "durationMs": round(elapsed * 1000, 2)})
        request_id_var.reset(token)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as `{"error": {"code", "message"}}` with the right status."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.code, exc.message)
    except LuciaError as exc:
        if not isinstance(exc, InvalidInput):  # bad input is the client's, as ApiErrors are
            log.warning("request failed", extra={"code": exc.code, "detail": exc.message})
        return json_error(status_for(exc), exc.code, exc.message, headers_for(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return json_error(exc.status, code, exc.reason, headers)
    except Exception:
        log.exception("unhandled error")
        return json_error(500, "internal_error", "an unexpected error occurred")


@web.middleware
async def api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    expected = request.app[keys.SETTINGS].api_key
    # Agent cards are for discovery: public, as A2A clients fetch them before any auth.
    if expected is not None and request.path.startswith(PROTECTED_PREFIXES) \
            and not request.path.endswith(AGENT_CARD_SUFFIX):
        given = request.headers.get("X-Api-Key", "")
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise ApiError(401, "unauthorized", "a valid X-Api-Key header is required")
    return await handler(request)
