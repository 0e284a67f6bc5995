"""The deployed stack answers, stores sessions in its Redis, and keeps them across a
service container restart."""

from __future__ import annotations

import time
import uuid

import docker

from tests.infra.conftest import Deployed, http


def test_health_reports_healthy_with_redis_connected(deployed: Deployed) -> None:
    status, body = http("GET", f"{deployed.url}/health")
    assert status == 200
    assert body["status"] == "Healthy"
    assert body["services"]["redis"] == "Connected"


def test_session_survives_a_service_restart(deployed: Deployed,
                                            engine: docker.DockerClient) -> None:
    session = f"gate-{uuid.uuid4().hex[:8]}"
    status, reply = http("POST", f"{deployed.url}/api/chat",
                         {"message": "my name is Alice", "sessionId": session})
    assert status == 200
    engine.containers.get(deployed.container_name("service")).restart(timeout=15)
    deadline = time.monotonic() + 60
    while True:
        try:
            status, body = http("GET", f"{deployed.url}/api/sessions/{session}", timeout=2)
            if status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "service did not come back within 60 s"
        time.sleep(0.5)
    assert body["history"][0]["content"] == "my name is Alice"
    status, task = http("GET", f"{deployed.url}/api/tasks/{reply['taskId']}")
    assert status == 200
    assert task["status"]["state"] == "completed"
    status, answer = http("POST", f"{deployed.url}/api/chat",
                          {"message": "what is my name?", "sessionId": session})
    assert answer["response"] == "Your name is Alice."
    # Leave the stack as found: healthy again, for the gates that run after this one.
    container = engine.containers.get(deployed.container_name("service"))
    while container.attrs["State"]["Health"]["Status"] != "healthy":
        assert time.monotonic() < deadline + 60, "service not healthy again after restart"
        time.sleep(0.5)
        container.reload()
