"""Reading a server-sent event stream as a client does, strictly: every event is an
optional `event:` line and one `data:` line of JSON, ended by a blank line, and each is
timed from when the request was sent."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse


@dataclass(frozen=True, slots=True)
class Event:
    name: str | None  # None: no `event:` line (the SSE default, "message")
    data: Any
    at: float  # seconds from the request to this event's arrival


def parse_block(block: bytes) -> tuple[str | None, Any]:
    assert block.endswith(b"\n\n"), f"an event must end with a blank line: {block!r}"
    lines = block[:-2].decode().split("\n")
    name = None
    if lines[0].startswith("event: "):
        name = lines.pop(0).removeprefix("event: ")
    assert len(lines) == 1, f"an event holds exactly one data line: {block!r}"
    assert lines[0].startswith("data: "), f"an event holds exactly one data line: {block!r}"
    return name, json.loads(lines[0].removeprefix("data: "))


async def read_event(response: ClientResponse, started: float) -> Event | None:
    """The next event, or None when the stream has ended (never in mid-event)."""
    block = await response.content.readuntil(b"\n\n")
    if not block:
        return None
    name, data = parse_block(block)
    return Event(name, data, time.perf_counter() - started)


async def read_events(response: ClientResponse, started: float) -> list[Event]:
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    events = []
    while (event := await read_event(response, started)) is not None:
        events.append(event)
    return events


def names(events: list[Event]) -> list[str | None]:
    return [event.name for event in events]
