"""An LLM-shaped load persona (`make load-llm STACK=<name>`, tests/load/llm_run.py): each
user is one person in a conversation that streams its replies (`Accept:
text/event-stream`), one turn after another with no pause, while the LLM simulator takes
its configured time to answer. Besides locust's own row for the streamed turn, each turn
reports its time to the first token as the pseudo-request "time to first token", so the
runner can judge both from locust's CSV."""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from locust import HttpUser, constant, events, task

API_KEY = os.environ.get("LUCIA_KEY", "")
SESSIONS = os.environ.get("LUCIA_RUN_PREFIX", "lucia-run-llm-")
MESSAGES = itertools.cycle(["tell me a joke", "my name is Alice", "what is my name?",
                            "what should I cook tonight?"])
TURN = "POST /api/chat (streamed)"  # locust's own row: with stream=True, to the headers
FIRST_TOKEN = "time to first token"
WHOLE_TURN = "whole turn (to done)"
# Locust keeps times above 1 s in 100 ms buckets; the gate needs milliseconds, so every
# completed turn's exact times are also kept here and written when the run stops.
TIMINGS: dict[str, list[float]] = {"first": [], "whole": []}


@events.test_stop.add_listener
def write_timings(**_: Any) -> None:
    if target := os.environ.get("LUCIA_LLM_TIMINGS"):
        Path(target).write_text(json.dumps(TIMINGS))


class Conversation(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.session_id = f"{SESSIONS}{uuid.uuid4().hex[:12]}"
        self.headers = {"Accept": "text/event-stream",
                        **({"X-Api-Key": API_KEY} if API_KEY else {})}

    @task
    def turn(self) -> None:
        started = time.perf_counter()
        first: float | None = None
        outcome = ""
        with self.client.post("/api/chat", json={"message": next(MESSAGES),
                                                 "sessionId": self.session_id},
                              headers=self.headers, stream=True, name=TURN,
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:120]}")
                return
            for line in response.iter_lines():
                if line.startswith(b"event: token") and first is None:
                    first = time.perf_counter() - started
                elif line.startswith((b"event: done", b"event: error")):
                    outcome = line.decode().split(": ", 1)[1]
            if outcome != "done":
                response.failure(f"the stream ended with {outcome or 'nothing'}")
                return
        whole = time.perf_counter() - started
        if first is not None:
            TIMINGS["first"].append(first)
            TIMINGS["whole"].append(whole)
        for name, seconds in ((FIRST_TOKEN, first), (WHOLE_TURN, whole)):
            if seconds is not None:
                events.request.fire(request_type="SSE", name=name,
                                    response_time=seconds * 1000, response_length=0,
                                    exception=None, context={})
