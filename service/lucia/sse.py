"""Server-sent events: whether a client asked for them, their framing, and the response
that carries them (docs/service.md, "Streaming").

Each event is one `data:` line of compact JSON (JSON escapes every newline, so one line
always holds it), after an `event:` line when the stream names its events, then a blank
line. The response opens with the first event, so whatever fails before it can still be
answered the ordinary way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from lucia import keys
from lucia.errors import LuciaError
from lucia.logs import request_id_var

EVENT_STREAM = "text/event-stream"
JSON = "application/json"

log = logging.getLogger("lucia.http")


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def wants_event_stream(request: web.Request) -> bool:
    """Did the client ask for `text/event-stream`? Only by naming it: a wildcard (`*/*`,
    `text/*`) or no Accept header is JSON, as before streaming existed. Named beside
    `application/json`, the higher quality wins, a tie goes to the stream (only a client
    that can read one names it)."""
    stream = plain = 0.0
    for accept in request.headers.getall("Accept", []):
        for media_range in accept.split(","):
            kind, *params = media_range.split(";")
            kind = kind.strip().lower()
            if kind == EVENT_STREAM:
                stream = max(stream, _quality(params))
            elif kind == JSON:
                plain = max(plain, _quality(params))
    return stream > 0 and stream >= plain


def frame(data: BaseModel | dict[str, Any], event: str | None = None) -> bytes:
    """One event: `event: <name>` (if named), `data: <json>`, a blank line."""
    body = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    line = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return (f"event: {event}\n" if event else "").encode() + f"data: {line}\n\n".encode()


class EventStream:
    """The SSE response of one request, opened by its first event.

    `transport` labels the stream's metrics (`chat`, `a2a`): the time to the first piece
    of the reply and how each stream ended."""

    def __init__(self, request: web.Request, transport: str) -> None:
        self._request = request
        self._transport = transport
        self._metrics = request.app[keys.METRICS]
        self._started = time.perf_counter()
        self._replied = False
        self.response = web.StreamResponse(headers={
            "Content-Type": f"{EVENT_STREAM}; charset=utf-8",
            "Cache-Control": "no-cache",
            # A buffering reverse proxy (nginx) would hold the events back.
            "X-Accel-Buffering": "no",
            # Set here: the middleware's own copy comes after the headers have gone.
            "X-Request-Id": request_id_var.get(),
        })

    @property
    def opened(self) -> bool:
        return self.response.prepared

    @property
    def client_gone(self) -> bool:
        transport = self._request.transport
        return transport is None or transport.is_closing()

    async def send(self, data: BaseModel | dict[str, Any], event: str | None = None, *,
                   reply: bool = False) -> None:
        """Send one event (ConnectionError if the client has gone); `reply` marks a piece
        of the reply, the first of which is timed."""
        if not self.response.prepared:
            await self.response.prepare(self._request)
        await self.response.write(frame(data, event))
        if reply and not self._replied:
            self._replied = True
            self._metrics.stream_first_token.labels(self._transport).observe(
                time.perf_counter() - self._started)

    def cancelled(self) -> None:
        """The handler was cancelled: the client went away (where the server cancels
        handlers of lost connections) or the server is stopping."""
        outcome = "disconnected" if self.client_gone else "cancelled"
        self._metrics.streams.labels(self._transport, outcome).inc()

    async def finish(self, outcome: str) -> web.StreamResponse:
        """End the stream; `outcome` (completed, failed, disconnected) is counted."""
        self._metrics.streams.labels(self._transport, outcome).inc()
        if outcome == "disconnected":
            log.info("client left a stream", extra={"transport": self._transport})
        elif self.opened and not self.client_gone:
            # Gone after the last event, it has all there was to say.
            with contextlib.suppress(ConnectionError):
                await self.response.write_eof()
        return self.response

    async def serve(self, produce: Callable[[], Awaitable[bool]],
                    send_error: Callable[[LuciaError | None], Awaitable[None]]
                    ) -> web.StreamResponse:
        """Run `produce`, which sends the events and returns False if the client left
        before the turn was stored, and end the stream as it went: completed;
        disconnected (the client left, also while being told of a failure); failed, after
        `send_error` told the client in the transport's own terms (None: an unexpected
        error); or cancelled, counted and raised on."""
        try:
            stored = await produce()
        except ConnectionError:
            return await self.finish("disconnected")
        except asyncio.CancelledError:
            self.cancelled()
            raise
        except Exception as exc:
            error = exc if isinstance(exc, LuciaError) else None
            if error is None:
                log.exception("unhandled error in a stream")
            else:
                log.warning("stream failed", extra={"code": error.code,
                                                    "detail": error.message})
            try:
                await send_error(error)
            except ConnectionError:
                return await self.finish("disconnected")
            return await self.finish("failed")
        return await self.finish("completed" if stored else "disconnected")
