"""One chat turn from message to stored reply, shared by /api/chat and A2A.

A turn reads the session's history, runs the orchestrator, and only then writes the
user message, the reply and the completed A2A task in one transaction. A turn that fails
(LLM down, Redis down) writes nothing, so a session never holds half a turn.

A streamed turn (`stream_turn`) is the same turn with its reply in chunks as the agents
produce them; it is written once the last chunk has been produced, and a stream that
breaks or is abandoned (LLM error mid-stream, the client gone) writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lucia.agents.base import Turn
from lucia.capacity import CapacityMonitor
from lucia.errors import TaskNotCancelable
from lucia.orchestrator import Orchestrator, TurnResult
from lucia.store import Store

TERMINAL_STATES = frozenset({"completed", "failed", "canceled", "rejected"})


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def text_message(role: str, text: str, context_id: str, task_id: str,
                 message_id: str | None = None) -> dict[str, Any]:
    """An A2A Message with one text part."""
    return {
        "kind": "message",
        "messageId": message_id or new_id(),
        "role": role,
        "parts": [{"kind": "text", "text": text}],
        "contextId": context_id,
        "taskId": task_id,
    }


DRY_RUN_MARK = "[dry run: nothing was changed] "


def held_back(actions: list[dict[str, Any]]) -> str:
    """How a dry-run reply ends: the calls the turn held back."""
    calls = "; ".join(
        f"{a['domain']}.{a['service']} on {', '.join(a['entityIds']) or 'nothing'}"
        + (f" with {a['data']}" if a["data"] else "") for a in actions)
    return f" Would have called {calls}." if calls else " No service call was needed."


def dry_run_reply(response: str, actions: list[dict[str, Any]]) -> str:
    """What a dry-run turn answers: the agent's reply, marked, and the calls it held back."""
    return f"{DRY_RUN_MARK}{response}{held_back(actions)}"


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    response: str
    session_id: str
    timestamp: str
    agent: str
    task: dict[str, Any]
    dry_run: bool = False
    actions: tuple[dict[str, Any], ...] = ()

    @property
    def task_id(self) -> str:
        task_id: str = self.task["id"]
        return task_id


@dataclass(slots=True)
class StreamedTurn:
    """A turn under way whose reply comes in chunks: iterate `chunks`. Once they are
    exhausted the turn has been stored and `outcome` says where; stopped early (closed,
    cancelled, or a chunk that raised) it stores nothing. The ids are chosen up front,
    so a stream can name its task before the reply exists."""

    session_id: str
    task_id: str
    artifact_id: str
    started_at: str
    user_message: dict[str, Any]  # the A2A message the stored task's history starts with
    chunks: AsyncGenerator[str, None] = field(init=False)
    outcome: TurnOutcome | None = None


class Conversation:
    def __init__(self, store: Store, orchestrator: Orchestrator, context_messages: int,
                 capacity: CapacityMonitor) -> None:
        self._store = store
        self._capacity = capacity
        self._orchestrator = orchestrator
        self._context = context_messages

    async def turn(self, message: str, session_id: str | None, *,
                   agent_id: str | None = None, message_id: str | None = None,
                   dry_run: bool = False) -> TurnOutcome:
        # Near the wall only turns of existing sessions go on (docs/capacity.md).
        await self._capacity.admit_session(session_id)
        one_shot = session_id is None
        session_id = session_id or new_id()
        history = await self._store.load_history(session_id, self._context)
        turn = Turn(message, session_id, history, dry_run=dry_run)
        result = await self._orchestrator.run(turn, only=agent_id)
        response = dry_run_reply(result.response, turn.actions) if dry_run else result.response
        task_id = new_id()
        user = text_message("user", message, session_id, task_id, message_id)
        return await self._record(turn, result, response, user, task_id, new_id(),
                                  one_shot=one_shot)

    async def stream_turn(self, message: str, session_id: str | None, *,
                          agent_id: str | None = None, message_id: str | None = None,
                          dry_run: bool = False) -> StreamedTurn:
        """Admit and prepare a turn (storage_full, Redis down raise here, before anything
        is said); routing and the agents run as its chunks are read."""
        await self._capacity.admit_session(session_id)
        one_shot = session_id is None
        session_id = session_id or new_id()
        history = await self._store.load_history(session_id, self._context)
        turn = Turn(message, session_id, history, dry_run=dry_run)
        task_id = new_id()
        streamed = StreamedTurn(session_id, task_id, new_id(), utc_now(),
                                text_message("user", message, session_id, task_id, message_id))
        streamed.chunks = self._stream(streamed, turn, agent_id, one_shot)
        return streamed

    async def _stream(self, streamed: StreamedTurn, turn: Turn, agent_id: str | None,
                      one_shot: bool) -> AsyncGenerator[str, None]:
        mark = DRY_RUN_MARK if turn.dry_run else ""
        sent: list[str] = []
        result: TurnResult | None = None
        async with aclosing(self._orchestrator.stream(turn, only=agent_id)) as items:
            async for item in items:
                if isinstance(item, TurnResult):
                    result = item
                elif item:
                    chunk, mark = mark + item, ""
                    sent.append(chunk)
                    yield chunk
        assert result is not None, "the orchestrator's stream ends with its TurnResult"
        if turn.dry_run:
            tail = mark + held_back(turn.actions)  # the mark too, if nothing was said
            sent.append(tail)
            yield tail
        # What was sent is what is stored: the chunks join to the reply `turn` would give.
        streamed.outcome = await self._record(
            turn, result, "".join(sent), streamed.user_message, streamed.task_id,
            streamed.artifact_id, one_shot=one_shot)

    async def _record(self, turn: Turn, result: TurnResult, response: str,
                      user: dict[str, Any], task_id: str, artifact_id: str, *,
                      one_shot: bool) -> TurnOutcome:
        """Write the turn (history entries and its completed task) in one transaction."""
        session_id, dry_run = turn.session_id, turn.dry_run
        marks: dict[str, Any] = {"dryRun": True} if dry_run else {}
        now = utc_now()
        task = {
            "kind": "task",
            "id": task_id,
            "contextId": session_id,
            "status": {"state": "completed", "timestamp": now},
            "history": [
                user,
                text_message("agent", response, session_id, task_id),
            ],
            "artifacts": [{
                "artifactId": artifact_id,
                "name": "response",
                "parts": [{"kind": "text", "text": response}],
            }],
            "metadata": {"agent": result.agent, "agents": result.agents,
                         "failedAgents": result.failed,
                         **({"dryRun": True, "actions": turn.actions} if dry_run else {})},
        }
        await self._store.record_turn(
            session_id,
            [
                {"role": "user", "content": turn.message, "timestamp": now, **marks},
                {"role": "assistant", "content": response, "timestamp": now,
                 "agent": result.agent, **marks},
            ],
            now,
            task,
            one_shot=one_shot,
        )
        return TurnOutcome(response, session_id, now, result.agent, task, dry_run,
                           tuple(turn.actions))

    async def cancel_task(self, task_id: str) -> dict[str, Any]:
        task = await self._store.get_task(task_id)
        state = task["status"]["state"]
        if state in TERMINAL_STATES:
            raise TaskNotCancelable(f"task {task_id!r} is already {state}")
        task["status"] = {"state": "canceled", "timestamp": utc_now()}
        await self._store.save_task(task)
        return task
