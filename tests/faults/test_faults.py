"""Every outage is survived and reported; nothing acknowledged is lost. Each test prints
what it measured. The backup/restore round trip runs last (tests run in file order)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from tests.faults.conftest import ChatLoad, backup_purge_restore, container_health, wait_healthy
from tests.functional.conftest import Simulator
from tests.support.deployed import Deployed


def redis_container(engine: docker.DockerClient, deployed: Deployed):
    return engine.containers.get(deployed.container_name("redis"))


def service_container(engine: docker.DockerClient, deployed: Deployed):
    return engine.containers.get(deployed.container_name("service"))


def wait_service_answers(deployed: Deployed, timeout: float = 60) -> float:
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    return deployed.wait_until(
        lambda: deployed.call("POST", "/api/chat", {"message": "ping", "sessionId": probe},
                              timeout=3)[0] == 200, timeout, "chat answering again")


def test_redis_killed_under_load_loses_no_acknowledged_turn(deployed: Deployed,
                                                            engine: docker.DockerClient) -> None:
    redis = redis_container(engine, deployed)
    with ChatLoad(deployed) as load:
        time.sleep(3)
        redis.kill(signal="KILL")
        time.sleep(2)
        restarted = time.monotonic()
        redis.start()
        wait_service_answers(deployed)
        recovered = time.monotonic() - restarted
        wait_healthy(deployed, redis)
        time.sleep(1)
    # Each acknowledged turn's task was written in the same MULTI as its history entries
    # (which are trimmed to the newest LUCIA_HISTORY_MAX_MESSAGES, so tasks are the count).
    found = lost = 0
    for task_ids in load.acknowledged.values():
        for task_id in task_ids:
            if deployed.call("GET", f"/api/tasks/{task_id}")[0] == 200:
                found += 1
            else:
                lost += 1
    acknowledged = found + lost
    fsync = deployed.outputs["redis_appendfsync"]
    print(f"\nredis SIGKILL under load (appendfsync {fsync}): {acknowledged} turns "
          f"acknowledged, {found} found, {lost} lost; statuses {load.statuses}; "
          f"chat answered again {recovered:.1f} s after Redis was started")
    assert acknowledged > 0
    if fsync == "always":
        assert lost == 0


def test_sessions_and_tasks_survive_graceful_restarts(deployed: Deployed,
                                                      engine: docker.DockerClient) -> None:
    session = f"restart-{uuid.uuid4().hex[:8]}"
    status, reply = deployed.call("POST", "/api/chat",
                                  {"message": "my name is Carol", "sessionId": session})
    assert status == 200
    for container in (redis_container(engine, deployed), service_container(engine, deployed)):
        container.restart(timeout=15)
        wait_healthy(deployed, container)
    wait_service_answers(deployed)
    status, task = deployed.call("GET", f"/api/tasks/{reply['taskId']}")
    assert (status, task["status"]["state"]) == (200, "completed")
    status, answer = deployed.call("POST", "/api/chat",
                                   {"message": "what is my name?", "sessionId": session})
    assert answer["response"] == "Your name is Carol."


def _status_of(answer: tuple[int, Any]) -> tuple[int, str]:
    status, body = answer
    return status, (body or {}).get("status", "") if isinstance(body, dict) else ""


def test_redis_outage_is_a_fast_503_and_recovers_without_restart(
        deployed: Deployed, engine: docker.DockerClient) -> None:
    redis = redis_container(engine, deployed)
    service = service_container(engine, deployed)
    started_at = service.attrs["State"]["StartedAt"]
    redis.stop(timeout=10)
    try:
        worst = 0.0
        for _ in range(5):
            began = time.perf_counter()
            status, body = deployed.call("POST", "/api/chat", {"message": "hello"}, timeout=5)
            worst = max(worst, time.perf_counter() - began)
            assert (status, body["error"]["code"]) == (503, "redis_unavailable")
        assert worst < 1.0, f"a request took {worst:.2f} s while Redis was down"
        # One answer that shows both: each worker reuses its own /health result for up to
        # 1 s, so a second call may come from a worker that has not looked again yet.
        deployed.wait_until(lambda: _status_of(deployed.call("GET", "/health", timeout=2))
                            == (503, "Unhealthy"), 5, "/health 503 Unhealthy")
        unhealthy = deployed.wait_until(lambda: container_health(service) == "unhealthy", 60,
                                        "service container unhealthy")
    finally:
        restarted = time.monotonic()
        redis.start()
    wait_service_answers(deployed, timeout=30)
    recovered = time.monotonic() - restarted
    wait_healthy(deployed, redis)
    service.reload()
    assert service.attrs["State"]["StartedAt"] == started_at, "the service was restarted"
    print(f"\nredis outage: slowest 503 {worst * 1000:.0f} ms; container unhealthy after "
          f"{unhealthy:.1f} s; chat recovered {recovered:.1f} s after Redis was started, "
          "without a service restart")
    wait_healthy(deployed, service)


def test_llm_failures_map_to_502_504_and_write_nothing(deployed: Deployed,
                                                       llm: Simulator) -> None:
    session = f"llm-{uuid.uuid4().hex[:8]}"
    llm.call("POST", "/sim/config", {"fail_count": -1, "fail_status": 503})
    status, body = deployed.call("POST", "/api/chat",
                                 {"message": "tell me a joke", "sessionId": session})
    assert (status, body["error"]["code"]) == (502, "llm_unavailable")
    llm.call("POST", "/sim/reset")
    llm.call("POST", "/sim/config", {"latency": 10, "scope": "chat"})
    began = time.perf_counter()
    status, body = deployed.call("POST", "/api/chat",
                                 {"message": "tell me a joke", "sessionId": session},
                                 timeout=30)
    waited = time.perf_counter() - began
    assert (status, body["error"]["code"]) == (504, "llm_timeout")
    llm.call("POST", "/sim/reset")
    llm.call("POST", "/sim/config", {"malformed_routing": 2})
    status, body = deployed.call("POST", "/api/chat",
                                 {"message": "turn on the kitchen light", "sessionId": session})
    assert (status, body["agent"]) == (200, "light-agent")  # fell back to skill routing
    status, stored = deployed.call("GET", f"/api/sessions/{session}")
    contents = [e["content"] for e in stored["history"]]
    assert contents[0] == "turn on the kitchen light"  # the failed turns left nothing
    assert len(contents) == 2
    print(f"\nLLM faults: 502 llm_unavailable, 504 llm_timeout after {waited:.1f} s, "
          "malformed routing fell back to skills; failed turns wrote nothing")


def test_home_assistant_down_is_degraded_with_a_clear_reply(
        deployed: Deployed, engine: docker.DockerClient) -> None:
    simulator = engine.containers.get(deployed.outputs["sim_ha_container"])
    simulator.stop(timeout=5)
    try:
        deployed.wait_until(lambda: deployed.call("GET", "/health")[1]["status"] == "Degraded",
                            5, "Degraded")
        status, reply = deployed.call("POST", "/api/chat",
                                      {"message": "turn on the kitchen light"})
        assert status == 200
        assert reply["response"].startswith("I can't reach Home Assistant")
    finally:
        simulator.start()
        wait_healthy(deployed, simulator)


SHUTDOWN_CLIENT = Path(__file__).with_name("shutdown_client.py")
# Clean answers while the service is down: the port refuses, or its name is gone from the
# network's DNS (Docker removes a stopped container's alias). Never reset, timeout,
# closed mid-answer or 5xx.
CLEAN_REFUSALS = {"refused", "unresolved"}


def test_graceful_shutdown_drops_no_request(deployed: Deployed, engine: docker.DockerClient,
                                            llm: Simulator) -> None:
    """SIGTERM under chat load, driven from a client container on the stack network
    straight at the service: every request written before SIGTERM completes with 200; new
    connections after it are refused cleanly; the restarted service has every turn it
    acknowledged. The LLM answers in 0.3 s, as a real one takes time, so turns are in
    flight when SIGTERM lands."""
    llm.call("POST", "/sim/config", {"latency": 0.3, "scope": "all"})
    service = service_container(engine, deployed)
    network = deployed.outputs["network"]
    client = engine.containers.run(
        deployed.outputs["service_image"], name=f"{service.name}-shutdown-client",
        entrypoint=["python", "-c", SHUTDOWN_CLIENT.read_text()],
        command=["http://lucia:8080", deployed.api_key or "-", "8", "14"],
        network=network, detach=True, user="1000:1000", read_only=True,
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"], mem_limit="128m",
        labels={"io.lucia.project": "lucia", "io.lucia.stack": deployed.stack})
    try:
        time.sleep(4)
        sigterm = time.time()
        service.stop(timeout=15)
        stop_seconds = time.time() - sigterm
        service.start()
        wait_healthy(deployed, service)
        exit_code = client.wait(timeout=60)["StatusCode"]
        assert exit_code == 0, client.logs(tail=20).decode()
        records = [json.loads(line) for line in client.logs(stdout=True, stderr=False)
                   .decode().splitlines() if line.startswith("{")]
    finally:
        client.remove(force=True)
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[str(record["outcome"])] = outcomes.get(str(record["outcome"]), 0) + 1
    in_flight = [r for r in records if r["sent"] and r["sent"] < sigterm
                 and r["done"] > sigterm]
    before = [r for r in records if r["sent"] and r["sent"] < sigterm]
    after = [r for r in records if not (r["sent"] and r["sent"] < sigterm)]
    acknowledged = [r["taskId"] for r in records if r["outcome"] == 200]
    lost = [task for task in acknowledged
            if deployed.call("GET", f"/api/tasks/{task}")[0] != 200]
    print(f"\ngraceful shutdown from the stack network: stopped in {stop_seconds:.1f} s; "
          f"{len(records)} requests {outcomes}; {len(in_flight)} in flight at SIGTERM; "
          f"{len(acknowledged)} acknowledged, {len(lost)} lost after restart")
    assert len(in_flight) > 0, "no request was in flight at SIGTERM; the gate proved nothing"
    assert [r for r in before if r["outcome"] != 200] == [], "accepted requests dropped"
    assert {str(r["outcome"]) for r in after} <= {"200", *CLEAN_REFUSALS}, \
        f"unclean answers after SIGTERM: {outcomes}"
    assert lost == []
    assert stop_seconds < 15


def test_abuse_leaves_the_service_healthy_and_bounded(deployed: Deployed,
                                                      engine: docker.DockerClient) -> None:
    service = service_container(engine, deployed)

    def memory() -> int:
        return service.stats(stream=False)["memory_stats"]["usage"]

    before = memory()
    statuses: dict[int, int] = {}
    host, port = deployed.url.removeprefix("http://").split(":")
    # Slow clients: sockets that send half a request and stall.
    slow = []
    for _ in range(50):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        slow.append(sock)
    # Oversized bodies and a flood of bad JSON, at a bounded rate.
    for index in range(400):
        raw = b"x" * 200_000 if index % 4 == 0 else b'{"message": bad json'
        status, _ = deployed.call("POST", "/api/chat", raw=raw)
        statuses[status] = statuses.get(status, 0) + 1
        time.sleep(0.002)
    health = deployed.call("GET", "/health")
    for sock in slow:
        sock.close()
    after = memory()
    growth = (after - before) / 1024 / 1024
    print(f"\nabuse: 50 stalled sockets, {sum(statuses.values())} bad requests {statuses}; "
          f"memory {before / 1048576:.0f} -> {after / 1048576:.0f} MiB")
    assert set(statuses) <= {400, 413}
    assert health[0] == 200
    assert growth < 50


# The ERROR lines the faults above cause on purpose, by logger and message; any other
# ERROR in the service's log (since it was created, through every gate) fails.
DELIBERATE_ERRORS: set[tuple[str, str]] = set()


def test_zy_service_logs_hold_only_the_deliberate_errors(deployed: Deployed,
                                                         engine: docker.DockerClient) -> None:
    """The seed's "no ERROR in the logs", kept: after the gates, every ERROR line of the
    service is one a fault test caused on purpose (named in DELIBERATE_ERRORS)."""
    lines = service_container(engine, deployed).logs(stdout=True, stderr=True).decode(
        errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) > 100, "the service logged almost nothing; is this its log?"
    error_records = [r for r in records if r.get("level") in ("ERROR", "CRITICAL")]
    errors = [(r.get("logger", ""), r.get("message", "")) for r in error_records]
    unexplained = [r for r, e in zip(error_records, errors, strict=True)
                   if e not in DELIBERATE_ERRORS]
    plain = [line for line in lines if line.strip() and not line.startswith("{")]
    print(f"\nservice log: {len(records)} JSON lines, {len(errors)} ERROR "
          f"({len(errors) - len(unexplained)} deliberate), {len(plain)} non-JSON lines")
    assert unexplained == [], "ERROR lines no fault test explains:\n" + "\n".join(
        json.dumps(r, indent=1)[:3000] for r in unexplained[:3])
    assert not [line for line in plain if "Traceback" in line or "ERROR" in line], plain[:5]


# Last in this module: it takes the stack down and brings it up again.
def test_backup_purge_restore_finds_every_session(deployed: Deployed, tmp_path: Path) -> None:
    backup_purge_restore(deployed, tmp_path)
