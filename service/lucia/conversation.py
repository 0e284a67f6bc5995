"""One chat turn from message to stored reply, shared by /api/chat and A2A.

A turn reads the session's history, runs the orchestrator, and only then writes the
user message, the reply and the completed A2A task in one transaction. A turn that fails
(LLM down, Redis down) writes nothing, so a session never holds half a turn.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lucia.agents.base import Turn
from lucia.capacity import CapacityMonitor
from lucia.errors import TaskNotCancelable
from lucia.orchestrator import Orchestrator
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


def dry_run_reply(response: str, actions: list[dict[str, Any]]) -> str:
    """What a dry-run turn answers: the agent's reply, marked, and the calls it held back."""
    calls = "; ".join(
        f"{a['domain']}.{a['service']} on {', '.join(a['entityIds']) or 'nothing'}"
        + (f" with {a['data']}" if a["data"] else "") for a in actions)
    held = f" Would have called {calls}." if calls else " No service call was needed."
    return f"[dry run: nothing was changed] {response}{held}"


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
        if dry_run:
            result.response = dry_run_reply(result.response, turn.actions)
        marks: dict[str, Any] = {"dryRun": True} if dry_run else {}
        now = utc_now()
        task_id = new_id()
        task = {
            "kind": "task",
            "id": task_id,
            "contextId": session_id,
            "status": {"state": "completed", "timestamp": now},
            "history": [
                text_message("user", message, session_id, task_id, message_id),
                text_message("agent", result.response, session_id, task_id),
            ],
            "artifacts": [{
                "artifactId": new_id(),
                "name": "response",
                "parts": [{"kind": "text", "text": result.response}],
            }],
            "metadata": {"agent": result.agent, "agents": result.agents,
                         "failedAgents": result.failed,
                         **({"dryRun": True, "actions": turn.actions} if dry_run else {})},
        }
        await self._store.record_turn(
            session_id,
            [
                {"role": "user", "content": message, "timestamp": now, **marks},
                {"role": "assistant", "content": result.response, "timestamp": now,
                 "agent": result.agent, **marks},
            ],
            now,
            task,
            one_shot=one_shot,
        )
        return TurnOutcome(result.response, session_id, now, result.agent, task, dry_run,
                           tuple(turn.actions))

    async def cancel_task(self, task_id: str) -> dict[str, Any]:
        task = await self._store.get_task(task_id)
        state = task["status"]["state"]
        if state in TERMINAL_STATES:
            raise TaskNotCancelable(f"task {task_id!r} is already {state}")
        task["status"] = {"state": "canceled", "timestamp": utc_now()}
        await self._store.save_task(task)
        return task
