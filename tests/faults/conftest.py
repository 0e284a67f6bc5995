"""Fault gates: real faults on the deployed stack's real containers. Destructive: run them
against the ci stack (make test does), not a stack whose data you want."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

from lucia_deploy import cli
from tests.functional.conftest import Simulator, ha, llm  # noqa: F401  -- shared fixtures
from tests.support.deployed import Deployed

# These stop and restart the stack's containers by name; the swarm stack's tasks are
# Swarm's to replace, and its faults are tests/faults/test_swarm.py.
CONTAINER_ONLY = ("test_faults.py", "test_capacity.py")


@pytest.fixture(autouse=True)
def _faults_for_this_engine(request: pytest.FixtureRequest) -> None:
    if request.node.path.name in CONTAINER_ONLY and Deployed.load().swarm:
        pytest.skip("a container-engine fault: the swarm stack's are in test_swarm.py")


def container_health(container: docker.models.containers.Container) -> str:
    container.reload()
    state = container.attrs["State"]
    return (state.get("Health") or {}).get("Status", state["Status"])


def wait_healthy(deployed: Deployed, container: docker.models.containers.Container,
                 timeout: float = 90) -> float:
    return deployed.wait_until(lambda: container_health(container) == "healthy", timeout,
                               f"{container.name} healthy")


@dataclass
class ChatLoad:
    """Clients in threads, each in its own session, one turn after another, recording
    the task id of every acknowledged (200) turn and every status seen."""

    deployed: Deployed
    clients: int = 6
    acknowledged: dict[str, list[str]] = field(default_factory=dict)
    statuses: dict[int | str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self, session: str) -> None:
        turn = 0
        while not self._stop.is_set():
            turn += 1
            message = f"turn {turn} of {session}"
            try:
                status, reply = self.deployed.call("POST", "/api/chat",
                                                   {"message": message, "sessionId": session},
                                                   timeout=20)
            except OSError as exc:  # refused while the service restarts
                status = type(exc).__name__
                time.sleep(0.05)
            with self._lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 200:
                    self.acknowledged.setdefault(session, []).append(reply["taskId"])

    def __enter__(self) -> ChatLoad:
        for _ in range(self.clients):
            session = f"lucia-run-fault-{uuid.uuid4().hex[:10]}"
            thread = threading.Thread(target=self._client, args=(session,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and s >= 500)


def backup_purge_restore(deployed: Deployed, tmp_path: Path, sessions: int = 20) -> None:
    """The backup gate, on any engine: sessions written, a backup, `down --purge` (the
    volume deleted), a restore into a new volume, `up`; every session is asserted found."""
    ids = [f"backup-{uuid.uuid4().hex[:8]}" for _ in range(sessions)]
    for session in ids:
        status, _ = deployed.call("POST", "/api/chat",
                                  {"message": f"remember {session}", "sessionId": session})
        assert status == 200
    snapshot = tmp_path / "snapshot.rdb"
    assert cli.main(["backup", "--stack", deployed.stack, "--file", str(snapshot)]) == 0
    assert cli.main(["down", "--stack", deployed.stack, "--purge"]) == 0
    assert cli.main(["restore", "--stack", deployed.stack, "--file", str(snapshot)]) == 0
    assert cli.main(["up", "--stack", deployed.stack]) == 0
    found = 0
    for session in ids:
        status, body = deployed.call("GET", f"/api/sessions/{session}")
        if status == 200 and body["history"][0]["content"] == f"remember {session}":
            found += 1
    print(f"\nbackup/restore ({deployed.stack}): {len(ids)} sessions written, {found} found "
          f"after purge and restore ({snapshot.stat().st_size} byte snapshot)")
    deployed.forget(set(ids))
    assert found == len(ids)
