"""The swarm engine's program under mocks (docs/swarm.md): what it creates, the hardening
of each service, secrets only as files, and the edge as the one published port."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lucia_deploy import provider
from lucia_deploy.recorder import Recording
from lucia_deploy.state import sanitise
from lucia_stack import swarm
from lucia_stack.config import ConfigError
from tests.program.conftest import SECRET_VALUES, SWARM_STACKS, TEST_SECRETS, Record

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
STACK = "swarm"


def test_there_is_a_swarm_stack() -> None:
    assert SWARM_STACKS == [STACK]


def services(recording: Recording) -> dict[str, dict[str, Any]]:
    """Service inputs by component label: service, redis."""
    found = {}
    for resource in recording.of_type(SERVICE):
        labels = {item["label"]: item["value"] for item in resource.plain["labels"]}
        found[labels["io.lucia.component"]] = resource.plain
    return found


def test_inventory(recordings: dict[str, Recording]) -> None:
    custom = sorted((r.type.split(":")[-1], r.name) for r in recordings[STACK].custom
                    if r.type != SECRET)
    expected = [("Network", "lucia-swarm-net"), ("Volume", "lucia-swarm-redis-data")]
    for role in ("redis", "service"):
        expected += [("Service", f"lucia-swarm-{role}"),
                     ("RemoteImage", f"lucia-swarm-{role}-image"),
                     ("Command", f"lucia-swarm-{role}-pids-limit")]
    for role in ("edge", "sim-ha", "sim-llm"):
        expected += [("Container", f"lucia-swarm-{role}"),
                     ("RemoteImage", f"lucia-swarm-{role}-image"),
                     ("Command", f"lucia-swarm-{role}-pids-limit")]
    assert custom == sorted(expected)
    secrets = sorted(r.name for r in recordings[STACK].of_type(SECRET))
    assert secrets == sorted(f"lucia-swarm-secret-{f}" for f in (
        "redis-password", "redis-service-password", "api-key", "chat-model",
        "home-assistant-token", "embeddings-model"))


def test_the_network_is_an_attachable_overlay(recordings: dict[str, Recording]) -> None:
    network = recordings[STACK].named("lucia-swarm-net").plain
    assert network["driver"] == "overlay"
    assert network["attachable"] is True
    for stack, recording in recordings.items():
        if stack != STACK:  # the bridge stacks keep exactly the inputs they had
            assert "attachable" not in recording.named(f"lucia-{stack}-net").inputs


@pytest.mark.parametrize("role", ["service", "redis"])
def test_every_service_gets_the_hardening_inputs(recordings: dict[str, Recording],
                                                 role: str) -> None:
    inputs = services(recordings[STACK])[role]
    spec = inputs["taskSpec"]["containerSpec"]
    assert spec["user"] not in ("", "root", "0")                                  # CIS 4.1
    assert spec["capDrops"] == ["ALL"]
    assert not spec.get("capAdds")
    assert spec["readOnly"] is True                                               # CIS 5.13
    assert spec["init"] is True
    tmpfs = [m for m in spec["mounts"] if m["type"] == "tmpfs"]
    assert [m["target"] for m in tmpfs] == ["/tmp"]
    assert spec["healthcheck"]["tests"]                                           # CIS 5.27
    limits = inputs["taskSpec"]["resources"]["limits"]
    assert limits["memoryBytes"] > 0
    assert limits["nanoCpus"] > 0
    restart = inputs["taskSpec"]["restartPolicy"]
    assert restart["condition"] == "on-failure"
    assert 0 < restart["maxAttempts"] <= 5
    # By the network's id: the provider reads it back by id only (a name replaces each up).
    network = recordings[STACK].named("lucia-swarm-net")
    assert [n["id"] for n in inputs["taskSpec"]["networksAdvanceds"]] == [network.id]
    assert all("name" not in n for n in inputs["taskSpec"]["networksAdvanceds"])
    assert inputs["endpointSpec"] == {"mode": "dnsrr"}  # no IPVS here; nothing published
    assert inputs["updateConfig"]["failureAction"] == "rollback"
    assert inputs["updateConfig"]["parallelism"] == 1
    assert inputs["convergeConfig"]["timeout"]


def test_replicas_and_update_order(recordings: dict[str, Recording],
                                   record_stack: Record) -> None:
    found = services(recordings[STACK])
    assert found["service"]["mode"]["replicated"]["replicas"] == 2
    assert found["redis"]["mode"]["replicated"]["replicas"] == 1
    # The stateless service starts the new task first (no gap); two Redis on one volume
    # must never overlap.
    assert found["service"]["updateConfig"]["order"] == "start-first"
    assert found["redis"]["updateConfig"]["order"] == "stop-first"
    three = services(record_stack(STACK, {"lucia:serviceReplicas": 3}))
    assert three["service"]["mode"]["replicated"]["replicas"] == 3


def test_redis_keeps_its_volume_and_placement(recordings: dict[str, Recording]) -> None:
    redis = services(recordings[STACK])["redis"]
    spec = redis["taskSpec"]["containerSpec"]
    assert {"target": "/data", "type": "volume", "source": "lucia-swarm-redis-data"} in [
        {k: m.get(k) for k in ("target", "type", "source")} for m in spec["mounts"]]
    assert redis["taskSpec"]["placement"]["constraints"] == ["node.role == manager"]
    assert spec["commands"][:2] == ["/bin/sh", "-c"]
    assert f'"$(cat {swarm.REDIS_PASSWORD_FILE})"' in spec["commands"][2]


def test_secrets_reach_the_tasks_only_as_files(recordings: dict[str, Recording]) -> None:
    recording = recordings[STACK]
    for resource in (*recording.of_type(SERVICE), *recording.of_type(CONTAINER)):
        public = json.dumps(resource.plain)
        for secret in SECRET_VALUES:
            assert secret not in public, f"{resource.name} carries a secret value"
    service = services(recording)["service"]["taskSpec"]["containerSpec"]
    mounted = {s["fileName"] for s in service["secrets"]}
    files = {k: v for k, v in service["env"].items() if k.endswith("_FILE")}
    assert set(files.values()) == mounted
    assert {"REDIS_PASSWORD_FILE", "LUCIA_API_KEY_FILE", "ConnectionStrings__chat-model_FILE",
            "HomeAssistant__AccessToken_FILE"} <= set(files)
    assert all(s["fileMode"] == 0o400 and s["fileUid"] == "1000"
               for s in service["secrets"])
    assert not {"REDIS_PASSWORD", "LUCIA_API_KEY"} & set(service["env"])


def test_secret_data_is_secret_and_the_value(recordings: dict[str, Recording]) -> None:
    for resource in recordings[STACK].of_type(SECRET):
        assert resource.secret_paths() == {"data"}, resource.name
    api_key = recordings[STACK].named("lucia-swarm-secret-api-key")
    assert base64.b64decode(api_key.plain["data"]).decode() == TEST_SECRETS["lucia:apiKey"]


def test_a_new_secret_value_is_a_new_secret_name(recordings: dict[str, Recording],
                                                 record_stack: Record) -> None:
    """Swarm secrets are immutable. Each is auto-named (<resource>-<7 characters>): the
    name is kept from the state while the value stays, and a new value draws a new name,
    so the replacement exists before the old secret is deleted."""
    def names(recording: Recording) -> dict[str, str]:
        return {r.name: r.plain["name"] for r in recording.of_type(SECRET)}

    first = record_stack(STACK)
    prior = {r.name: sanitise(r, provider.read_back(r.type, r.checked)) for r in first.custom}
    before = names(first)
    again = names(record_stack(STACK, prior=prior))
    changed = names(record_stack(STACK, secrets={"lucia:apiKey": "another-api-key-value"},
                                 prior=prior))
    assert again == before
    key = "lucia-swarm-secret-api-key"
    assert changed[key] != before[key]
    assert changed[key].startswith(f"{key}-")
    assert {k: v for k, v in changed.items() if k != key} == {
        k: v for k, v in before.items() if k != key}
    assert "name" not in first.named(key).inputs  # left to the provider
    for name in before.values():
        assert not any(secret in name for secret in SECRET_VALUES)


def test_only_the_edge_is_published_and_on_loopback(recordings: dict[str, Recording]) -> None:
    recording = recordings[STACK]
    edge = recording.named("lucia-swarm-edge").plain
    assert edge["ports"] == [{"internal": 8080, "external": 5500, "ip": "127.0.0.1",
                              "protocol": "tcp"}]
    assert "LUCIA_EDGE_BACKEND=tasks.lucia-swarm-service" in edge["envs"]
    assert recording.outputs["service_url"] == "http://127.0.0.1:5500"
    assert all(not (s.get("endpointSpec") or {}).get("ports")
               for s in services(recording).values())


@pytest.mark.parametrize(("stack", "overrides", "complaint"), [
    ("ci", {"lucia:serviceReplicas": 3}, "serviceReplicas only apply with engine swarm"),
    ("swarm", {"lucia:redisPublishPort": 6390}, "redisPublishPort cannot be used with "
     "engine swarm"),
    ("swarm", {"lucia:serviceReplicas": 0}, "lucia:serviceReplicas = '0'"),
    ("swarm", {"lucia:engine": "kubernetes"}, "lucia:engine = 'kubernetes'"),
])
def test_bad_swarm_config_is_refused(record_stack: Record, stack: str,
                                     overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint.replace("(", r"\(")):
        record_stack(stack, overrides)
