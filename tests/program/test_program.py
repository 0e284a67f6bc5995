"""The Pulumi program under mocks, for every stack file: inventory, hardening inputs,
ports, secrets, names derived from the stack."""

from __future__ import annotations

import json

import pytest

from lucia_deploy.recorder import Recording
from lucia_deploy.stacks import stack_config
from lucia_stack import simulators
from lucia_stack.config import KEYS_BY_NAME, ConfigError
from tests.program.conftest import CONTAINER_STACKS, SECRET_VALUES, STACKS, Record

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
COMMAND = "command:local:Command"


def containers(recording: Recording) -> dict[str, dict]:
    """Container inputs by component label: service, redis, sim-ha, sim-llm."""
    found = {}
    for resource in recording.of_type(CONTAINER):
        labels = {item["label"]: item["value"] for item in resource.plain["labels"]}
        found[labels["io.lucia.component"]] = resource.plain
    return found


def uses_simulators(stack: str) -> bool:
    return bool(stack_config(stack).get("lucia:simulators"))


def test_every_expected_stack_exists() -> None:
    assert set(STACKS) >= {"dev", "homelab", "staging", "ci"}


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_inventory_is_network_volume_and_two_containers(recordings: dict[str, Recording],
                                                        stack: str) -> None:
    custom = sorted((r.type, r.name) for r in recordings[stack].resources if r.custom)
    expected = [
        ("docker:index/network:Network", f"lucia-{stack}-net"),
        ("docker:index/volume:Volume", f"lucia-{stack}-redis-data"),
    ]
    roles = ["redis", "service"] + (["sim-ha", "sim-llm"] if uses_simulators(stack) else [])
    for role in roles:
        # Each container with its image (by id) and its PIDs limit (CIS 5.29).
        expected += [(CONTAINER, f"lucia-{stack}-{role}"),
                     (IMAGE, f"lucia-{stack}-{role}-image"),
                     (COMMAND, f"lucia-{stack}-{role}-pids-limit")]
    assert custom == sorted(expected)


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_every_container_gets_the_hardening_inputs(recordings: dict[str, Recording],
                                                  stack: str) -> None:
    for name, inputs in containers(recordings[stack]).items():
        assert inputs["readOnly"] is True, name                                   # CIS 5.13
        assert inputs["capabilities"] == {"drops": ["ALL"]}, name                 # CIS 5.4
        assert inputs["privileged"] is False, name                                # CIS 5.5
        assert inputs["securityOpts"] == ["no-new-privileges:true"], name         # CIS 5.26
        assert set(inputs["tmpfs"]) == {"/tmp"}, name
        assert inputs["tmpfs"]["/tmp"].startswith("rw,noexec,nosuid,nodev,"), name
        assert inputs["init"] is True, name
        assert inputs["restart"] in ("unless-stopped", "on-failure"), name        # CIS 5.15
        assert inputs["logDriver"] == "json-file", name
        assert set(inputs["logOpts"]) == {"max-size", "max-file"}, name
        assert inputs["user"] not in ("", "root", "0"), name                      # CIS 4.1
        assert inputs["healthcheck"]["tests"], name                               # CIS 5.27
        assert [n["name"] for n in inputs["networksAdvanced"]] == [f"lucia-{stack}-net"]
        labels = {item["label"]: item["value"] for item in inputs["labels"]}
        assert labels == {"io.lucia.project": "lucia", "io.lucia.stack": stack,
                          "io.lucia.component": name}


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_limits_follow_the_stack_config(recordings: dict[str, Recording], stack: str) -> None:
    config = stack_config(stack)

    def value(key: str) -> object:
        return config.get(f"lucia:{key}", KEYS_BY_NAME[key].default)

    found = containers(recordings[stack])
    assert found["service"]["memory"] == value("serviceMemoryMb")
    assert float(found["service"]["cpus"]) == value("serviceCpus")
    assert found["redis"]["memory"] == value("redisMemoryMb")
    assert float(found["redis"]["cpus"]) == value("redisCpus")


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_service_is_published_only_on_loopback(recordings: dict[str, Recording],
                                               stack: str) -> None:
    port = stack_config(stack)["lucia:servicePort"]
    assert containers(recordings[stack])["service"]["ports"] == [
        {"internal": 8080, "external": port, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert recordings[stack].outputs["service_url"] == f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_redis_is_unpublished_unless_configured_and_then_loopback(
        recordings: dict[str, Recording], stack: str) -> None:
    ports = containers(recordings[stack])["redis"]["ports"]
    published = stack_config(stack).get("lucia:redisPublishPort")
    if published:
        assert ports == [{"internal": 6379, "external": published, "ip": "127.0.0.1",
                          "protocol": "tcp"}]
    else:
        assert ports == []


def test_only_dev_publishes_redis(recordings: dict[str, Recording]) -> None:
    publishing = [s for s in CONTAINER_STACKS if containers(recordings[s])["redis"]["ports"]]
    assert publishing == ["dev"]


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_redis_persistence_and_memory_policy(recordings: dict[str, Recording],
                                             stack: str) -> None:
    redis = containers(recordings[stack])["redis"]
    env = dict(item.split("=", 1) for item in redis["envs"])
    expected = stack_config(stack).get("lucia:redisAppendfsync", "everysec")
    script = redis["entrypoints"][2]
    assert env["REDIS_APPENDFSYNC"] == expected
    assert int(env["REDIS_MAXMEMORY_MB"]) < redis["memory"]
    for line in ("appendonly yes", "maxmemory-policy noeviction", "protected-mode yes",
                 "requirepass $REDIS_PASSWORD"):
        assert line in script
    for command in ("flushall", "flushdb", "config", "debug", "keys", "shutdown"):
        assert f"-{command}" in script
    assert redis["mounts"] == [{"target": "/data", "type": "volume",
                                "source": f"lucia-{stack}-redis-data"}]


def test_staging_and_ci_fsync_always(recordings: dict[str, Recording]) -> None:
    for stack in ("staging", "ci"):
        assert recordings[stack].outputs["redis_appendfsync"] == "always"


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_secrets_are_marked_secret_and_only_in_env(recordings: dict[str, Recording],
                                                   stack: str) -> None:
    for resource in recordings[stack].of_type(CONTAINER):
        expected = set() if "-sim-" in resource.name else {"envs"}
        assert resource.secret_paths() == expected, resource.name
        public = json.dumps({k: v for k, v in resource.plain.items() if k != "envs"})
        for secret in SECRET_VALUES:
            assert secret not in public, f"{resource.name} leaks a secret outside envs"
    assert not any(secret in json.dumps(recordings[stack].outputs) for secret in SECRET_VALUES)


def service_env(recording: Recording) -> dict[str, str]:
    return dict(item.split("=", 1) for item in containers(recording)["service"]["envs"])


def test_service_env_carries_the_connection_settings(recordings: dict[str, Recording]) -> None:
    env = service_env(recordings["homelab"])
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["REDIS_USERNAME"] == "lucia"
    assert env["REDIS_PASSWORD"] == "service-password-for-tests"
    assert env["LUCIA_API_KEY"] == "api-test-secret-key"
    assert env["ConnectionStrings__chat-model"].endswith("Provider=openai")
    assert "ConnectionStrings__embeddings" not in env  # empty values are left out


def test_simulators_fill_only_what_is_unset(record_stack: Record,
                                            recordings: dict[str, Recording]) -> None:
    env = service_env(record_stack("ci", secrets={"lucia:chatModel": ""}))
    assert env["HomeAssistant__BaseUrl"] == "http://homeassistant:8123"
    assert env["HomeAssistant__AccessToken"] == "ha-test-secret-token"  # set, so kept
    assert env["ConnectionStrings__chat-model"] == simulators.LLM_CONNECTION  # unset: filled
    assert env["ConnectionStrings__embeddings"] == simulators.LLM_CONNECTION
    sims = containers(recordings["ci"])
    assert sims["sim-ha"]["ports"] == [{"internal": 8123, "external": 5290, "ip": "127.0.0.1",
                                        "protocol": "tcp"}]
    assert sims["sim-llm"]["ports"] == [{"internal": 8000, "external": 5291, "ip": "127.0.0.1",
                                         "protocol": "tcp"}]


def test_stacks_share_no_resource_names(recordings: dict[str, Recording]) -> None:
    names = [r.name for rec in recordings.values() for r in rec.resources if r.custom]
    assert len(names) == len(set(names))
    ports = [rec.outputs["service_port"] for rec in recordings.values()]
    assert len(ports) == len(set(ports))


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_use_only_known_keys(stack: str) -> None:
    for key in stack_config(stack):
        namespace, _, name = key.partition(":")
        assert namespace == "lucia", f"{stack}: {key} is outside the lucia namespace"
        assert name in KEYS_BY_NAME, f"{stack}: unknown key {key}"
        assert not KEYS_BY_NAME[name].secret, f"{stack}: secret {key} in a stack file"


@pytest.mark.parametrize(("overrides", "secrets", "complaint"), [
    ({"lucia:redisAppendfsync": "sometimes"}, {},
     "lucia:redisAppendfsync = 'sometimes': Input should be 'always', 'everysec' or 'no'"),
    ({"lucia:servicePort": 80}, {},
     "lucia:servicePort = '80': Input should be greater than 1024"),
    ({"lucia:servicePort": "abc"}, {},
     "lucia:servicePort = 'abc': Input should be a valid integer"),
    ({"lucia:redisMaxmemoryPercent": 100}, {}, "redisMaxmemoryPercent = '100'"),
    ({"lucia:serviceEnvironment": {"PATH": "/tmp"}}, {}, "only set LUCIA_"),
    ({"lucia:serviceCpus": 0.05}, {}, "would be read back by pulumi-docker as '0.1'"),
    ({"lucia:logMaxSize": "lots"}, {}, "lucia:logMaxSize = 'lots'"),
    ({"lucia:servicePorts": 5000}, {}, "lucia:servicePorts"),
    ({}, {"lucia:redisPassword": "short"}, "lucia:redisPassword must be 16-128"),
    ({}, {"lucia:redisServicePassword": "has spaces in it, bad"}, "redisServicePassword"),
])
def test_bad_config_is_rejected_naming_the_key(record_stack: Record, overrides: dict,
                                               secrets: dict, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        record_stack("ci", overrides, secrets)


def test_registry_images_can_be_configured(record_stack: Record) -> None:
    recording = record_stack("ci", {"lucia:redisImage": "redis:8.2-alpine",
                                    "lucia:serviceImage": "python:3.12-slim"})
    images = {r.name: r.plain["name"] for r in recording.of_type(IMAGE)}
    assert images["lucia-ci-redis-image"] == "redis:8.2-alpine"
    assert images["lucia-ci-service-image"] == "python:3.12-slim"


def test_debug_and_release_images_never_share_a_tag(record_stack: Record,
                                                    recordings: dict[str, Recording]) -> None:
    debug = record_stack("dev", {"lucia:buildConfiguration": "Debug"})
    assert debug.outputs["service_image"].endswith("-debug")
    assert not recordings["ci"].outputs["service_image"].endswith("-debug")
    assert debug.outputs["sim_image"] == debug.outputs["service_image"].replace(
        "lucia:", "lucia-sims:")


def test_only_a_stack_wholly_on_its_simulators_gets_the_full_profile(
        record_stack: Record) -> None:
    """A simulator stack pointed at a real Home Assistant or LLM must be verified live."""
    from lucia_deploy import profiles

    on_sims = record_stack("ci", secrets={"lucia:chatModel": ""})
    assert on_sims.outputs["uses_simulators"] is True
    assert profiles.choose(on_sims.outputs)[0] == profiles.FULL
    real_home = record_stack("ci", {"lucia:homeAssistantUrl": "http://ha.lan:8123"},
                             secrets={"lucia:chatModel": ""})
    real_llm = record_stack("ci")  # TEST_SECRETS carry a real-looking chat model
    for recording in (real_home, real_llm):
        assert recording.outputs["uses_simulators"] is False
        assert profiles.choose(recording.outputs)[0] == profiles.LIVE
    assert record_stack("homelab").outputs["uses_simulators"] is False
