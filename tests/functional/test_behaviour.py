"""The deployed service behaves as documented: health, agents, chat that controls Home
Assistant, routing, multi-agent turns, errors, memory, persistence across restarts,
semantic matching with embeddings from the simulator, streamed replies (SSE)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from lucia_deploy import waiting
from tests.functional.conftest import Simulator
from tests.support.deployed import Deployed

# Full profile only: these drive real side effects against the simulators.
pytestmark = pytest.mark.usefixtures("simulators", "forget_created")
CREATED: set[str] = set()  # every session a turn here opened, deleted when the module ends


@pytest.fixture(scope="module")
def forget_created(deployed: Deployed) -> Iterator[None]:
    yield
    deleted = deployed.forget(CREATED)
    print(f"\nbehaviour: deleted {deleted} of the {len(CREATED)} sessions it made")


def health_when(deployed: Deployed, status: str, what: str,
                service: tuple[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """The first /health answer with this status (and, given `service`, with that one
    dependency in that state). Each worker process (and, in the swarm stack, each
    replica) reuses its own result for up to LUCIA_HEALTH_CACHE_SECONDS (1 s), so within
    that window two calls may be answered from different moments: judge the answer that
    showed the change."""
    def answered() -> tuple[int, dict[str, Any]] | None:
        code, body = deployed.call("GET", "/health", auth=False)
        if service and body["services"].get(service[0]) != service[1]:
            return None
        return (code, body) if body["status"] == status else None
    try:
        return waiting.wait_until(answered, 5, f"/health {status} {what}", interval=0.25,
                                  ignore=(OSError,))[0]
    except waiting.WaitTimeout as exc:
        raise AssertionError(str(exc)) from None


def chat(deployed: Deployed, message: str, session_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["sessionId"] = session_id
    status, reply = deployed.call("POST", "/api/chat", body)
    assert status == 200, reply
    CREATED.add(reply["sessionId"])
    return reply


def wait_healthy(engine: docker.DockerClient, deployed: Deployed, name: str) -> None:
    container = engine.containers.get(name)

    def healthy() -> bool:
        container.reload()
        return container.attrs["State"].get("Health", {}).get("Status") == "healthy"
    deployed.wait_until(healthy, 90, f"{name} healthy")


def test_health_is_healthy_then_degraded_without_home_assistant(
        deployed: Deployed, engine: docker.DockerClient) -> None:
    status, body = deployed.call("GET", "/health", auth=False)
    assert (status, body["status"]) == (200, "Healthy")
    assert body["services"] == {"redis": "Connected", "homeAssistant": "Connected",
                                "llm": "Configured", "storage": "Ok"}
    assert body["reasons"] == []
    simulator = engine.containers.get(deployed.outputs["sim_ha_container"])
    simulator.stop(timeout=5)
    try:
        status, body = health_when(deployed, "Degraded", "after Home Assistant stopped")
        assert status == 200
        assert body["services"]["homeAssistant"] == "Disconnected"
        assert [r for r in body["reasons"] if r.startswith("homeAssistant:")], body
        reply = chat(deployed, "turn on the kitchen light")
        assert reply["response"].startswith("I can't reach Home Assistant")
    finally:
        simulator.start()
        wait_healthy(engine, deployed, simulator.name)
    deployed.wait_until(lambda: deployed.call("GET", "/health")[1]["status"] == "Healthy",
                        30, "Healthy again")


def test_agent_registry_lists_orchestrator_first(deployed: Deployed) -> None:
    status, cards = deployed.call("GET", "/api/agents")
    assert status == 200
    assert [c["url"].rsplit("/", 1)[1] for c in cards] == [
        "orchestrator", "light-agent", "climate-agent", "general-assistant"]
    assert cards[0]["url"].startswith(deployed.url)
    assert deployed.call("GET", "/api/agents/toaster")[0] == 404


def test_health_is_degraded_while_the_llm_cannot_be_reached(deployed: Deployed,
                                                           llm: Simulator) -> None:
    """/health probes the LLM (cached like the rest): failing probes make it Degraded with
    an `llm:` reason; once they answer again it is Healthy by itself."""
    llm.call("POST", "/sim/config", {"fail_count": -1, "fail_status": 503, "scope": "probe"})
    try:
        status, body = health_when(deployed, "Degraded", "while the LLM probe fails",
                                   ("llm", "Unreachable"))
        assert (status, body["services"]["llm"]) == (200, "Unreachable")
        assert [r for r in body["reasons"] if r.startswith("llm:")], body
    finally:
        llm.call("POST", "/sim/reset")
    deployed.wait_until(
        lambda: deployed.call("GET", "/health", auth=False)[1]["status"] == "Healthy",
        5, "Healthy once the LLM answers")


def test_basic_chat_goes_through_the_llm(deployed: Deployed, llm: Simulator) -> None:
    reply = chat(deployed, "tell me about the weather")
    assert reply["agent"] == "general-assistant"
    assert reply["response"] == "(simulated model) You said: tell me about the weather"
    paths = [r["path"] for r in llm.call("GET", "/sim/requests")]
    assert paths == ["/v1/chat/completions", "/v1/chat/completions"]  # routing, answer


def test_chat_turns_on_a_light(deployed: Deployed, ha: Simulator) -> None:
    reply = chat(deployed, "turn on the kitchen light")
    assert reply == {**reply, "agent": "light-agent", "response": "Turned on Kitchen Light."}
    assert ha.call("GET", "/api/states/light.kitchen")["state"] == "on"
    assert ha.call("GET", "/sim/calls") == [
        {"domain": "light", "service": "turn_on", "data": {"entity_id": ["light.kitchen"]}}]


@pytest.mark.parametrize(("message", "agent"), [
    ("dim the bedroom lamp to 20%", "light-agent"),
    ("set the thermostat temperature to 19 degrees", "climate-agent"),
    ("what can you tell me about octopuses?", "general-assistant"),
])
def test_intent_routing_reaches_each_agent(deployed: Deployed, ha: Simulator, message: str,
                                           agent: str) -> None:
    assert chat(deployed, message)["agent"] == agent


def test_multi_agent_request(deployed: Deployed, ha: Simulator) -> None:
    reply = chat(deployed, "turn on the kitchen light and set the temperature to 22 degrees")
    assert reply["response"].splitlines() == ["Turned on Kitchen Light.",
                                              "Set Living Room Thermostat to 22°."]
    assert ha.call("GET", "/api/states/climate.living_room")["attributes"]["temperature"] == 22


@pytest.mark.parametrize(("raw", "headers", "status", "code"), [
    (b"{broken", {}, 400, "invalid_json"),
    (b'{"message": "hi"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    (b'{"message": ""}', {}, 400, "empty_message"),
    (b'{"message": "' + b"x" * 4001 + b'"}', {}, 400, "message_too_long"),
    (b'{"message": "hi", "sessionId": "no spaces allowed"}', {}, 400, "invalid_session_id"),
    (b'{"message": "hi", "mood": "happy"}', {}, 400, "unknown_field"),
    (b'{"message": "' + b"x" * 70000 + b'"}', {}, 413, "payload_too_large"),
])
def test_each_client_error_of_the_contract(deployed: Deployed, raw: bytes,
                                           headers: dict[str, str], status: int,
                                           code: str) -> None:
    got, body = deployed.call("POST", "/api/chat", raw=raw, headers=headers)
    assert (got, body["error"]["code"]) == (status, code)


def test_api_key_is_enforced_when_configured(deployed: Deployed) -> None:
    wrong = deployed.call("GET", "/api/agents", auth=False, headers={"X-Api-Key": "wrong"})
    missing = deployed.call("GET", "/api/agents", auth=False)
    if deployed.api_key:
        assert wrong[0] == missing[0] == 401
        assert wrong[1]["error"]["code"] == "unauthorized"
    else:  # no key configured: the API is open, and says so in its contract
        assert wrong[0] == missing[0] == 200
        assert deployed.call("GET", "/openapi.json")[1]["security"] == []
    assert deployed.call("GET", "/health", auth=False)[0] == 200


def test_session_memory_across_turns(deployed: Deployed) -> None:
    session = f"lucia-run-func-{uuid.uuid4().hex[:10]}"
    chat(deployed, "my name is Alice", session)
    assert chat(deployed, "what is my name?", session)["response"] == "Your name is Alice."
    status, history = deployed.call("GET", f"/api/sessions/{session}")
    assert status == 200
    assert [e["role"] for e in history["history"]] == ["user", "assistant"] * 2


def test_task_and_session_survive_a_service_restart(deployed: Deployed,
                                                    engine: docker.DockerClient) -> None:
    session = f"lucia-run-restart-{uuid.uuid4().hex[:10]}"
    reply = chat(deployed, "my name is Bob", session)
    if deployed.swarm:
        # Every replica replaced, one at a time (a task container is Swarm's to restart:
        # restarting it by hand would run it outside Swarm).
        before = set(deployed.containers("service"))
        service = engine.services.get(deployed.outputs["service_service"])
        service.force_update()
        deployed.wait_until(lambda: not before & set(deployed.containers("service")) and len(
            deployed.containers("service")) == deployed.outputs["service_replicas"], 180,
                            "every replica replaced")
    else:
        engine.containers.get(deployed.container_name("service")).restart(timeout=15)
    deployed.wait_until(lambda: deployed.call("GET", "/health", timeout=2)[0] == 200, 60,
                        "service back after restart")
    status, task = deployed.call("GET", f"/api/tasks/{reply['taskId']}")
    assert (status, task["status"]["state"]) == (200, "completed")
    assert chat(deployed, "what is my name?", session)["response"] == "Your name is Bob."
    for name in deployed.containers("service"):
        wait_healthy(engine, deployed, name)


def test_semantic_matching_with_embeddings(deployed: Deployed, ha: Simulator,
                                           llm: Simulator) -> None:
    reply = chat(deployed, "switch on the lounge lamp")
    assert reply["response"] == "Turned on Living Room Lamp."
    assert ha.call("GET", "/api/states/light.living_room")["state"] == "on"
    assert any(r["path"].endswith("/embeddings") for r in llm.call("GET", "/sim/requests"))


def test_a2a_message_send_and_tasks_get(deployed: Deployed) -> None:
    message = {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex,
               "parts": [{"kind": "text", "text": "hello there"}]}
    status, reply = deployed.call("POST", "/a2a/orchestrator", {
        "jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}})
    assert status == 200
    task = reply["result"]
    status, got = deployed.call("POST", "/a2a/orchestrator", {
        "jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": task["id"]}})
    assert status == 200
    assert got["result"]["status"]["state"] == "completed"


@dataclass(frozen=True)
class Event:
    name: str | None
    data: Any
    at: float  # seconds from the request to the event's arrival


def stream(deployed: Deployed, path: str, body: dict[str, Any]) -> list[Event]:
    """POST asking for server-sent events; every event as it arrives, timed."""
    request = urllib.request.Request(
        f"{deployed.url}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Accept": "text/event-stream",
                 **deployed.turn_headers()})
    events: list[Event] = []
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        lines: list[str] = []
        for raw in response:  # read as it comes: chunked, one line at a time
            line = raw.decode().rstrip("\n")
            if line:
                lines.append(line)
                continue
            name = lines.pop(0).removeprefix("event: ") if lines[0].startswith("event:") \
                else None
            assert len(lines) == 1, f"one data line per event: {lines}"
            assert lines[0].startswith("data: "), f"one data line per event: {lines}"
            events.append(Event(name, json.loads(lines[0].removeprefix("data: ")),
                                time.perf_counter() - started))
            lines = []
        assert lines == [], f"the stream ended mid-event: {lines}"
    return events


def test_chat_streams_each_token_as_the_llm_produces_it(deployed: Deployed,
                                                        llm: Simulator) -> None:
    ttft, delay, count = 0.5, 0.1, 10
    llm.call("POST", "/sim/config", {"scope": "chat", "ttft": ttft, "token_delay": delay,
                                     "reply_tokens": count})
    session = f"lucia-run-stream-{uuid.uuid4().hex[:10]}"
    CREATED.add(session)
    events = stream(deployed, "/api/chat", {"message": "tell me a story",
                                            "sessionId": session})
    generation = ttft + delay * (count - 1)
    assert [e.name for e in events] == ["token"] * count + ["done"]
    done = events[-1].data
    print(f"\nstreamed chat: first token {events[0].at:.3f} s, done {events[-1].at:.3f} s "
          f"(simulator: ttft {ttft} s, generation {generation:.1f} s)")
    assert ttft <= events[0].at < ttft + (generation - ttft) / 2
    assert events[-1].at >= generation
    assert "".join(e.data["text"] for e in events[:-1]) == done["response"]
    assert set(done) == {"response", "sessionId", "timestamp", "agent", "taskId"}
    assert (done["sessionId"], done["agent"]) == (session, "general-assistant")
    status, stored = deployed.call("GET", f"/api/sessions/{session}")
    assert status == 200
    assert stored["history"][-1]["content"] == done["response"]


def test_a_chat_stream_the_llm_breaks_ends_in_an_error_and_stores_nothing(
        deployed: Deployed, llm: Simulator) -> None:
    llm.call("POST", "/sim/config", {"scope": "chat", "fail_after_tokens": 3})
    session = f"lucia-run-broken-{uuid.uuid4().hex[:10]}"
    events = stream(deployed, "/api/chat", {"message": "tell me a story",
                                            "sessionId": session})
    assert [e.name for e in events] == ["token"] * 3 + ["error"]
    assert events[-1].data["error"]["code"] == "llm_unavailable"
    assert deployed.call("GET", f"/api/sessions/{session}")[0] == 404


def test_a2a_message_stream_sends_task_status_and_artifact_updates(
        deployed: Deployed) -> None:
    session = f"lucia-run-a2a-stream-{uuid.uuid4().hex[:10]}"
    CREATED.add(session)
    message = {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex,
               "contextId": session, "parts": [{"kind": "text", "text": "hello there"}]}
    events = stream(deployed, "/a2a/orchestrator", {
        "jsonrpc": "2.0", "id": 4, "method": "message/stream", "params": {"message": message}})
    results = [e.data["result"] for e in events]
    kinds = [r["kind"] for r in results]
    assert kinds[:2] == ["task", "status-update"]
    assert kinds[2:-1] == ["artifact-update"] * (len(kinds) - 3)
    assert len(kinds) >= 5
    assert kinds[-1] == "status-update"
    assert (results[-1]["status"]["state"], results[-1]["final"]) == ("completed", True)
    assert results[-2]["lastChunk"] is True
    text = "".join(part["text"] for r in results[2:-1] for part in r["artifact"]["parts"])
    status, got = deployed.call("POST", "/a2a/orchestrator", {
        "jsonrpc": "2.0", "id": 5, "method": "tasks/get", "params": {"id": results[0]["id"]}})
    assert status == 200
    assert got["result"]["artifacts"][0]["parts"][0]["text"] == text
    assert got["result"]["status"] == results[-1]["status"]
    _, cards = deployed.call("GET", "/api/agents")
    assert all(card["capabilities"]["streaming"] for card in cards)


def test_a_conversation_across_replicas_keeps_its_whole_history(
        deployed: Deployed, engine: docker.DockerClient) -> None:
    """Swarm stack: turns of one session land on different replicas (the edge balances
    per request) and the session holds every turn, in order, whichever replica wrote it.
    Each turn is traced to the replica that served it by its request id in the logs."""
    if not deployed.swarm or len(deployed.containers("service")) < 2:
        pytest.skip("one service container: no replicas for a turn to cross "
                    "(the swarm stack runs this)")
    session = f"lucia-run-replicas-{uuid.uuid4().hex[:8]}"
    CREATED.add(session)
    request_ids = [f"lucia-run-replica-turn-{uuid.uuid4().hex[:10]}" for _ in range(8)]
    for turn, request_id in enumerate(request_ids):
        status, reply = deployed.call("POST", "/api/chat", {
            "message": f"turn {turn}: what can you do?", "sessionId": session},
            headers={"X-Request-Id": request_id})
        assert status == 200, reply
    served: dict[str, str] = {}
    for name in deployed.containers("service"):
        logs = engine.containers.get(name).logs().decode(errors="replace")
        served |= {rid: name for rid in request_ids if f'"requestId": "{rid}"' in logs}
    assert set(served) == set(request_ids), "a turn's replica could not be found in the logs"
    assert len(set(served.values())) >= 2, f"every turn landed on one replica: {served}"
    status, stored = deployed.call("GET", f"/api/sessions/{session}")
    assert status == 200
    users = [e["content"] for e in stored["history"] if e["role"] == "user"]
    assert users == [f"turn {turn}: what can you do?" for turn in range(8)]
    assert [e["role"] for e in stored["history"]] == ["user", "assistant"] * 8
