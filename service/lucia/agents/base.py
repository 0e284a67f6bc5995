"""What every agent is: an id, a card's worth of description, its dependencies, `handle`
and `stream`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from lucia.dependencies import Dependency


@dataclass(frozen=True, slots=True)
class Skill:
    id: str
    name: str
    description: str
    # Tags double as the keywords the offline router matches, so cards and routing agree.
    tags: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Turn:
    """What an agent gets: the message and the conversation before it."""

    message: str
    session_id: str
    history: list[dict[str, Any]] = field(default_factory=list)
    # A dry run does everything but the side effect: the Home Assistant service calls an
    # agent would make are collected in `actions` instead of made.
    dry_run: bool = False
    actions: list[dict[str, Any]] = field(default_factory=list)

    def chat_messages(self) -> list[dict[str, str]]:
        """History as chat-completion messages, oldest first, then this message."""
        messages = [
            {"role": "assistant" if entry["role"] == "assistant" else "user",
             "content": entry["content"]}
            for entry in self.history
        ]
        messages.append({"role": "user", "content": self.message})
        return messages


class Agent(Protocol):
    id: str
    name: str
    description: str
    skills: tuple[Skill, ...]
    # What it needs to answer; its health is derived from these (lucia/health.py).
    requires: tuple[Dependency, ...]

    async def handle(self, turn: Turn) -> str: ...

    async def stream(self, turn: Turn) -> AsyncGenerator[str, None]:
        """The reply in chunks as it is produced (a streamed turn). An agent that answers
        without the LLM has nothing to stream: by default its whole reply is one chunk.
        The chunks, joined, are the reply `handle` would give."""
        yield await self.handle(turn)
