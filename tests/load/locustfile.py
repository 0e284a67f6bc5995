"""Load personas for the lucia service. Run by `make load STACK=<name>`
(tests/load/run.py), never at a fixed host: the host is the stack's 127.0.0.1 URL.

- ProbeUser: an orchestrator polling /health and /alive.
- ChatUser: a person in a multi-turn session: chat, read the history, sometimes start over.
- A2AClient: another agent calling message/send and tasks/get.

Thresholds are enforced in one `events.quitting` listener (thresholds.py)."""

from __future__ import annotations

import itertools
import os
import uuid

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

from tests.load.thresholds import check_thresholds, load_thresholds

API_KEY = os.environ.get("LUCIA_KEY", "")
# Every session this run opens starts with it; run.py deletes them when the run ends.
SESSIONS = os.environ.get("LUCIA_RUN_PREFIX", "lucia-run-load-")
HEADERS = {"X-Api-Key": API_KEY} if API_KEY else {}
MESSAGES = itertools.cycle([
    "hello there", "turn on the kitchen light", "what is my name?",
    "set the temperature to 21 degrees", "my name is Alice", "switch off the bedroom lamp",
])


class ProbeUser(FastHttpUser):
    weight = 1
    wait_time = between(0.5, 1.0)

    @task(3)
    def health(self) -> None:
        with self.client.get("/health", name="GET /health", catch_response=True) as response:
            if response.status_code != 200 or response.json().get("status") not in (
                    "Healthy", "Degraded"):
                response.failure(f"health: {response.status_code} {response.text[:80]}")

    @task(1)
    def alive(self) -> None:
        self.client.get("/alive", name="GET /alive")


class ChatUser(FastHttpUser):
    weight = 4
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.session_id = f"{SESSIONS}{uuid.uuid4().hex[:12]}"

    @task(6)
    def chat(self) -> None:
        body = {"message": next(MESSAGES), "sessionId": self.session_id}
        with self.client.post("/api/chat", json=body, headers=HEADERS, name="POST /api/chat",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"chat: {response.status_code} {response.text[:120]}")
                return
            reply = response.json()
            if not reply.get("response") or reply.get("sessionId") != self.session_id:
                response.failure(f"chat reply empty or for another session: {reply}")

    @task(2)
    def history(self) -> None:
        with self.client.get(f"/api/sessions/{self.session_id}", headers=HEADERS,
                             name="GET /api/sessions/[id]", catch_response=True) as response:
            if response.status_code == 404:
                response.success()  # no turn stored yet for this user
            elif response.status_code != 200 or "history" not in response.json():
                response.failure(f"history: {response.status_code}")

    @task(1)
    def start_over(self) -> None:
        with self.client.delete(f"/api/sessions/{self.session_id}", headers=HEADERS,
                                name="DELETE /api/sessions/[id]",
                                catch_response=True) as response:
            if response.status_code in (204, 404):
                response.success()
            else:
                response.failure(f"delete: {response.status_code}")
        self.session_id = f"{SESSIONS}{uuid.uuid4().hex[:12]}"


class A2AClient(FastHttpUser):
    weight = 1
    wait_time = between(0.1, 0.3)

    def on_start(self) -> None:
        self.context_id = f"{SESSIONS}a2a-{uuid.uuid4().hex[:12]}"

    @task
    def send_then_get(self) -> None:
        message = {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex,
                   "parts": [{"kind": "text", "text": next(MESSAGES)}],
                   "contextId": self.context_id}
        with self.client.post("/a2a/orchestrator", headers=HEADERS, name="A2A message/send",
                              json={"jsonrpc": "2.0", "id": 1, "method": "message/send",
                                    "params": {"message": message}},
                              catch_response=True) as response:
            task_id = (response.json().get("result") or {}).get("id") \
                if response.status_code == 200 else None
            if not task_id:
                response.failure(f"message/send: {response.status_code} {response.text[:120]}")
                return
        with self.client.post("/a2a/orchestrator", headers=HEADERS, name="A2A tasks/get",
                              json={"jsonrpc": "2.0", "id": 2, "method": "tasks/get",
                                    "params": {"id": task_id}},
                              catch_response=True) as response:
            state = ((response.json().get("result") or {}).get("status") or {}).get("state")
            if state != "completed":
                response.failure(f"tasks/get: {response.text[:120]}")


@events.quitting.add_listener
def _enforce_thresholds(environment, **_kwargs) -> None:
    # Workers have no totals; only the master (or a local runner) judges the run.
    if environment.runner is None or environment.parsed_options is None:
        return
    if type(environment.runner).__name__ == "WorkerRunner":
        return
    stack = os.environ.get("LUCIA_STACK", "dev")
    problems = check_thresholds(environment.stats, load_thresholds(stack))
    for problem in problems:
        print(f"THRESHOLD MISSED: {problem}")
    if problems:
        environment.process_exit_code = 1
    else:
        print(f"all thresholds met for stack {stack}")
