"""What the gates know about a deployed stack: only its outputs and its local secrets
(.state/<stack>/), never constants. The stack is named by LUCIA_STACK."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from lucia_deploy import services, waiting
from lucia_deploy.stacks import read_outputs, stack_secrets
from tests.support import profile


def base_stack(stack: str) -> str:
    """The stack a derived one stands for: the proof's `ci-proof-2` is held to ci's rules."""
    return stack.split("-", 1)[0]


@dataclass
class Deployed:
    stack: str
    outputs: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)

    @classmethod
    def load(cls, stack: str | None = None) -> Deployed:
        stack = stack or os.environ.get("LUCIA_STACK", "dev")
        return cls(stack, read_outputs(stack), stack_secrets(stack))

    @property
    def url(self) -> str:
        return self.outputs["service_url"]

    @property
    def api_key(self) -> str:
        return self.secrets.get("apiKey", "")

    @property
    def swarm(self) -> bool:
        return self.outputs.get("engine") == "swarm"

    def components(self) -> list[str]:
        """What the hardening gates inspect: the service and Redis, and the swarm stack's
        edge."""
        return ["service", "redis", *(["edge"] if "edge_container" in self.outputs else [])]

    def containers(self, component: str) -> list[str]:
        """The running containers of a component: its container, or each running task of
        its Swarm service (docs/swarm.md)."""
        import docker

        return services.running_containers(docker.from_env(), self.outputs, component)

    def container_name(self, component: str) -> str:
        """The component's container; for a Swarm service, one of its running tasks."""
        names = self.containers(component)
        if not names:
            raise AssertionError(f"{component}: no running container")
        return names[0]

    def auth(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key} if self.api_key else {}

    @property
    def profile(self) -> str:
        return profile.choose(self.outputs)[0]

    @property
    def live(self) -> bool:
        return self.profile == profile.LIVE

    def turn_headers(self) -> dict[str, str]:
        """Headers for a chat or A2A turn: the API key, and the dry run when live."""
        return {**self.auth(), **(profile.DRY_RUN if self.live else {})}

    def forget(self, session_ids: set[str]) -> int:
        """Delete sessions a gate created; how many were there to delete."""
        deleted = 0
        for session_id in sorted(session_ids):
            status, _ = self.call("DELETE", f"/api/sessions/{session_id}")
            deleted += status == 204
        return deleted

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True,
             headers: dict[str, str] | None = None, raw: bytes | None = None,
             timeout: float = 10, base: str | None = None) -> tuple[int, Any]:
        """One HTTP request; (status, parsed JSON or None). Never raises on 4xx/5xx."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                           else None)
        all_headers = {"Content-Type": "application/json", **(self.auth() if auth else {}),
                       **(headers or {})}
        request = urllib.request.Request(f"{base or self.url}{path}", data=data,
                                         method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            payload, status = exc.read(), exc.code
        try:
            return status, json.loads(payload) if payload else None
        except json.JSONDecodeError:
            return status, payload.decode(errors="replace")

    def wait_until(self, predicate: Any, timeout: float, what: str) -> float:
        """Poll `predicate()` until true (connection errors count as not yet); return the
        seconds it took. Running out is a test failure."""
        try:
            return waiting.wait_until(predicate, timeout, what, interval=0.25,
                                      ignore=(OSError,))[1]
        except waiting.WaitTimeout as exc:
            raise AssertionError(str(exc)) from None
