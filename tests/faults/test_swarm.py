"""Fault gates for the swarm stack (docs/swarm.md, issue 12): under chat load through the
edge, a replica's container killed, a rolling update to a new image, and an update to an
image whose health never passes. Each demands 0 failed requests and no lost acknowledged
turn, and each leaves the service with the spec, replicas and health it found, even when
it fails. Last, a backup, purge and restore of Redis. Skipped on a stack that is not a
swarm stack, so they live beside the container faults (`LUCIA_STACK=swarm .venv/bin/python
-m pytest -v tests/faults/test_swarm.py`)."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.faults.conftest import ChatLoad, backup_purge_restore
from tests.support import swarm_service as sw
from tests.support.deployed import Deployed

# Each session takes this many turns, then its client opens the next one: well inside
# the service's history of 50 messages, so every acknowledged turn can be found in it.
TURNS_PER_SESSION = 20
# An image whose process keeps running but never serves: the service's healthcheck
# (python -m lucia.healthcheck against /health) fails until Swarm gives up on the task.
NEVER_HEALTHY = 'ENTRYPOINT ["python", "-c", "import time\\nwhile True: time.sleep(3600)"]'


@dataclass
class TurnLoad(ChatLoad):
    """ChatLoad (each client one turn after another, acknowledged task ids by session,
    every status counted), with each client moving to a new session every
    TURNS_PER_SESSION turns and each acknowledged turn's message kept, so that afterwards
    every acknowledged turn is looked for in its session's history. Any exception is a
    failed request, not a dead client thread."""

    sent: dict[str, str] = field(default_factory=dict)      # task id -> its message
    sessions: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)

    def _client(self, session: str) -> None:
        turn = 0
        while not self._stop.is_set():
            turn += 1
            session_id = f"{session}-{(turn - 1) // TURNS_PER_SESSION}"
            message = f"turn {turn} of {session_id}"
            began = time.perf_counter()
            reply: Any = None
            status: int | str
            try:
                status, reply = self.deployed.call(
                    "POST", "/api/chat", {"message": message, "sessionId": session_id},
                    timeout=20)
            except Exception as exc:  # every failure counts, by its kind
                status = type(exc).__name__
                time.sleep(0.05)
            elapsed = time.perf_counter() - began
            with self._lock:
                self.sessions.add(session_id)
                self.latencies.append(elapsed)
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 200 and isinstance(reply, dict) and reply.get("taskId"):
                    self.acknowledged.setdefault(session_id, []).append(reply["taskId"])
                    self.sent[reply["taskId"]] = message

    def failed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 200)

    def summary(self) -> str:
        latencies = sorted(self.latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies \
            else float("nan")
        return (f"{sum(self.statuses.values())} requests {self.statuses}, "
                f"p99 {p99 * 1000:.0f} ms, slowest {max(latencies, default=0) * 1000:.0f} ms")


@dataclass
class TurnCheck:
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)          # acknowledged, not found
    duplicated: list[str] = field(default_factory=list)    # stored more than once

    def line(self) -> str:
        return (f"{self.acknowledged} turns acknowledged, {len(self.lost)} lost, "
                f"{len(self.duplicated)} stored twice")


def check_turns(deployed: Deployed, load: TurnLoad) -> TurnCheck:
    """Every acknowledged turn: its task is there and completed, and its session's history
    holds it, in order, each question followed by an answer. A turn stored twice is
    counted, not failed: the edge sends a request again when its replica closed the
    connection without a response byte (`retry-on empty-response`), so a replica killed
    after writing a turn and before answering leaves it twice (at least once, never lost)."""
    check = TurnCheck()
    for session_id, task_ids in load.acknowledged.items():
        expected = [load.sent[task_id] for task_id in task_ids]
        check.acknowledged += len(expected)
        status, body = deployed.call("GET", f"/api/sessions/{session_id}")
        history = body.get("history", []) if status == 200 and isinstance(body, dict) else []
        questions = [e["content"] for e in history if e.get("role") == "user"]
        answered = all(later.get("role") == "assistant" for earlier, later in
                       itertools.pairwise(history) if earlier.get("role") == "user")
        if not answered or (history and history[-1].get("role") == "user"):
            check.lost.append(f"{session_id}: a question without its answer")
        for task_id, message in zip(task_ids, expected, strict=True):
            status, task = deployed.call("GET", f"/api/tasks/{task_id}")
            if status != 200 or task["status"]["state"] != "completed" \
                    or message not in questions:
                check.lost.append(f"{message} (task {task_id}: {status})")
        check.duplicated += sorted({q for q in questions if questions.count(q) > 1})
        # The order they were acknowledged in, whatever else is stored between them.
        positions = [questions.index(m) for m in expected if m in questions]
        if positions != sorted(positions):
            check.lost.append(f"{session_id}: history out of order")
    return check


@pytest.fixture(scope="module")
def swarm(deployed: Deployed, engine: docker.DockerClient) -> Deployed:
    if deployed.outputs.get("engine") != "swarm":
        pytest.skip(f"stack {deployed.stack} is not a swarm stack (engine "
                    f"{deployed.outputs.get('engine', 'container')}); these faults need "
                    "LUCIA_STACK=swarm")
    if (engine.info().get("Swarm") or {}).get("LocalNodeState") != "active":
        pytest.skip("this engine is not in a swarm")
    return deployed


@pytest.fixture
def variants(engine: docker.DockerClient) -> Iterator[list[str]]:
    """Tags of the variant images a test builds; removed after it (after the restore,
    which `held` does first: it is set up after this)."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        sw.remove_image(engine, tag)
    left = [t for i in engine.images.list(name=sw.IMAGE_REPOSITORY) for t in i.tags
            if t in tags]
    assert left == [], f"variant images left behind: {left}"


@pytest.fixture
def held(swarm: Deployed, engine: docker.DockerClient,
            variants: list[str]) -> Iterator[sw.Held]:
    """The service, settled before the test; after it, whatever happened, put back to the
    spec found (image, replicas), converged and healthy. After a test that deployed an
    image of its own, `lucia-deploy up` is run again too, when it would change nothing
    (sw.redeploy says why not otherwise)."""
    name = swarm.outputs["service_service"]
    sw.wait_settled(engine, name)
    held = sw.Held(engine, name)
    assert sw.replicas_of(held.found) == swarm.outputs["service_replicas"]
    yield held
    print(f"\nrestore: {held.restore()}")
    if variants:
        print(f"redeploy: {sw.redeploy(engine, swarm.stack, name, held.found)}")


def forget(deployed: Deployed, load: TurnLoad) -> None:
    deployed.forget(load.sessions)


def run_load(deployed: Deployed, during: Any, settle: float = 3,
             after: float = 2) -> tuple[TurnLoad, Any]:
    """Chat load through the edge: `settle` seconds, then `during()` (the fault, which
    returns what it measured), then `after` seconds more."""
    load = TurnLoad(deployed, clients=6)
    with load:
        time.sleep(settle)
        measured = during()
        time.sleep(after)
    return load, measured


def assert_no_failure_no_loss(deployed: Deployed, load: TurnLoad, what: str) -> TurnCheck:
    try:
        check = check_turns(deployed, load)
    finally:
        forget(deployed, load)
    print(f"{what}: {load.summary()}; {check.line()}")
    assert check.acknowledged > 0
    assert load.failed() == 0, f"failed requests under load: {load.statuses}"
    assert check.lost == [], f"acknowledged turns lost: {check.lost[:5]}"
    return check


def test_replica_killed_under_load_is_replaced_without_a_failed_request(
        swarm: Deployed, engine: docker.DockerClient, held: sw.Held) -> None:
    name = held.service
    before = sw.tasks(engine, name)
    victim = before[0]
    container = sw.container_of(engine, victim)
    assert container is not None
    known = {t["ID"] for t in before}
    replicas = len(before)

    def kill() -> dict[str, float]:
        killed = time.monotonic()
        container.kill(signal="KILL")

        def replaced() -> bool:
            now = sw.tasks(engine, name)
            return any(t["ID"] not in known for t in now) and \
                sw.converged(engine, name, replicas)
        swarm.wait_until(replaced, 120, f"{name}: a new task for the killed one, healthy")
        return {"replaced": time.monotonic() - killed}

    load, measured = run_load(swarm, kill)
    new = [t for t in sw.tasks(engine, name) if t["ID"] not in known]
    print(f"\nreplica kill: {container.name} (task {victim['ID'][:10]}) SIGKILLed under load; "
          f"Swarm ran task {new[0]['ID'][:10] if new else '?'} in its place, "
          f"{replicas}/{replicas} running and healthy, {measured['replaced']:.1f} s after "
          "the kill")
    assert len(new) == 1
    assert_no_failure_no_loss(swarm, load, "replica kill")


def update_image(held: sw.Held, image: str) -> None:
    """`docker service update --image`, as an operator would: the CLI changes the image
    in the service's current spec and leaves the rest (PIDs limit included) as it is."""
    held.untouched()
    result = subprocess.run(["docker", "service", "update", "--detach", "--quiet",
                             "--no-resolve-image", "--image", image, held.service],
                            capture_output=True, text=True, check=False, timeout=60)
    held.mark()  # the spec this run gave the service, which `restore` may undo
    assert result.returncode == 0, result.stderr


def test_rolling_update_under_load_fails_no_request(
        swarm: Deployed, engine: docker.DockerClient, variants: list[str],
        held: sw.Held) -> None:
    service = held.service
    found = held.found
    replicas = sw.replicas_of(found)
    new_image, tag = sw.build_variant(engine, sw.image_of(found), "update")
    variants.append(tag)

    def update() -> dict[str, Any]:
        started = time.monotonic()
        update_image(held, new_image)
        seen: set[str] = set()

        def done() -> bool:
            seen.add(sw.update_state(engine, service))
            return sw.converged(engine, service, replicas, new_image)
        swarm.wait_until(done, 180, f"{service}: every task on {tag}")
        return {"seconds": time.monotonic() - started, "states": seen,
                "final": sw.update_state(engine, service)}

    load, measured = run_load(swarm, update)
    on_new = [t for t in sw.tasks(engine, service)
              if t["Spec"]["ContainerSpec"]["Image"] == new_image]
    print(f"\nrolling update to {tag} ({new_image[7:19]}) under load: {len(on_new)}/{replicas} "
          f"tasks on it, update {measured['final']} after {measured['seconds']:.1f} s "
          f"(states seen {sorted(measured['states'])})")
    assert measured["final"] == "completed"
    assert len(on_new) == replicas
    assert_no_failure_no_loss(swarm, load, "rolling update")


def test_update_to_an_image_that_never_gets_healthy_rolls_back_by_itself(
        swarm: Deployed, engine: docker.DockerClient, variants: list[str],
        held: sw.Held) -> None:
    service = held.service
    found = held.found
    old_image = sw.image_of(found)
    replicas = sw.replicas_of(found)
    bad_image, tag = sw.build_variant(engine, old_image, "unhealthy", NEVER_HEALTHY)
    variants.append(tag)
    old_tasks = {t["ID"] for t in sw.tasks(engine, service)}
    seen: list[str] = []
    watching = threading.Event()

    def watch() -> None:
        # Every moment of the update: the old tasks must stay running and healthy.
        while not watching.is_set():
            old_running = [t for t in sw.tasks(engine, service) if t["ID"] in old_tasks
                           and t["Status"]["State"] == "running"]
            seen.append(f"{len(old_running)}")
            time.sleep(0.5)

    def update() -> dict[str, Any]:
        started = time.monotonic()
        update_image(held, bad_image)
        states: list[str] = []

        def rolled_back() -> bool:
            state = sw.update_state(engine, service)
            if not states or states[-1] != state:
                states.append(state)
            return state in ("rollback_completed", "rollback_paused", "paused")
        swarm.wait_until(rolled_back, 240, f"{service}: rolled back")
        rollback_at = time.monotonic() - started
        swarm.wait_until(lambda: sw.converged(engine, service, replicas, old_image), 120,
                         f"{service}: back on the old image, healthy")
        return {"states": states, "rolled_back": rollback_at,
                "message": (sw.inspect(engine, service).get("UpdateStatus") or {})
                .get("Message", ""), "final": sw.update_state(engine, service)}

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        load, measured = run_load(swarm, update)
    finally:
        watching.set()
        watcher.join(timeout=5)
    now = sw.spec(engine, service)
    still_old = {t["ID"] for t in sw.tasks(engine, service)} == old_tasks
    print(f"\nunhealthy update to {tag} ({bad_image[7:19]}) under load: update states "
          f"{' -> '.join(measured['states'])} ({measured['message']!r}), rolled back "
          f"{measured['rolled_back']:.1f} s after the update; the old tasks "
          f"{'kept serving' if still_old else 'were replaced'}, old running tasks at each "
          f"look {sorted(set(seen))}")
    assert measured["final"] == "rollback_completed"
    assert sw.image_of(now) == old_image
    assert still_old, "the old tasks were replaced: they did not serve throughout"
    assert set(seen) == {str(replicas)}, "an old task stopped during the update"
    assert_no_failure_no_loss(swarm, load, "unhealthy update")


# Last in this module: it takes the stack down (the swarm too, when nothing else runs)
# and brings it up again.
def test_backup_purge_restore_finds_every_session(swarm: Deployed, tmp_path: Path) -> None:
    """Backup from the Redis service's running task (the admin password from its secret
    file), down with the volume purged, restore into a new volume, up."""
    backup_purge_restore(swarm, tmp_path)
