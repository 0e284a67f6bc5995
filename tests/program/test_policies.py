"""The CrossGuard policies, driven through pulumi_policy itself (each policy's `validate`
with ResourceValidationArgs / StackValidationArgs, as the analyzer calls it) on the
provider-checked inputs every stack's program produces (defaults filled, as the engine
gives them to policy packs): every stack passes, and each weakening breaks exactly its
own rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, StackValidationPolicy

from lucia_deploy.cli import policy_violations
from lucia_deploy.recorder import Recording, Resource
from lucia_policies.pack import Target, evaluate, policies
from lucia_policies.rules import RULES, STACK_RULES
from tests.program.conftest import STACKS, Record

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
SERVICE = "docker:index/service:Service"


def targets(recording: Recording, change: Callable[[Resource], dict[str, Any] | None]
            = lambda r: None) -> list[Target]:
    """The recording as the engine hands it to a pack; `change` may replace a resource's
    checked inputs (return None to keep them)."""
    return [Target(r.type, r.name, r.urn, change(r) or r.checked, r.dependencies, r.parent)
            for r in recording.custom]


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_every_policy(record_stack: Record, stack: str,
                                         preview: bool) -> None:
    assert policy_violations(record_stack(stack, preview=preview)) == []


def test_policies_see_the_provider_defaults(recordings: dict[str, Recording]) -> None:
    """The engine runs the provider's Check before the policies: networkMode arrives as
    "bridge" though the program never sets it. A rule judging raw inputs would miss it."""
    service = recordings["ci"].named("lucia-ci-service")
    assert "networkMode" not in service.inputs
    assert service.checked["networkMode"] == "bridge"
    assert service.checked["restart"] == "on-failure"
    assert all(p["protocol"] == "tcp" for p in service.checked["ports"])


WEAKENINGS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "cis-5-13-read-only-rootfs": lambda i: i.update(readOnly=False),
    "cis-4-1-non-root-user": lambda i: i.update(user="root"),
    "cis-5-4-capabilities-dropped": lambda i: i.update(capabilities={"adds": ["NET_ADMIN"]}),
    "cis-5-5-not-privileged": lambda i: i.update(privileged=True),
    "cis-5-14-bound-to-loopback": lambda i: i.update(ports=[
        {"internal": 8080, "external": 5999, "ip": "0.0.0.0", "protocol": "tcp"}]),
    "cis-5-8-no-privileged-ports": lambda i: i.update(ports=[
        {"internal": 8080, "external": 80, "ip": "127.0.0.1", "protocol": "tcp"}]),
    "cis-5-26-no-new-privileges": lambda i: i.update(securityOpts=[]),
    "cis-5-11-memory-limited": lambda i: i.pop("memory"),
    "cis-5-12-cpu-limited": lambda i: i.pop("cpus"),
    "cis-5-13-tmpfs-hardened": lambda i: i.update(tmpfs={"/tmp": "rw,size=64m"}),
    "cis-5-15-restart-policy": lambda i: i.update(restart="no"),
    "cis-5-27-healthcheck": lambda i: i.update(healthcheck={"tests": ["NONE"]}),
    # The provider default networkMode "bridge" alone, with no stack network to move to.
    "cis-5-30-not-default-bridge": lambda i: i.update(networksAdvanced=[]),
    "cis-5-10-no-host-network": lambda i: i.update(networkMode="host"),
    "cis-5-16-no-host-pid": lambda i: i.update(pidMode="host"),
    "cis-5-17-no-host-ipc": lambda i: i.update(ipcMode="host"),
    "cis-5-31-no-host-userns": lambda i: i.update(usernsMode="host"),
    "cis-5-18-no-host-devices": lambda i: i.update(devices=[{"hostPath": "/dev/mem"}]),
    "cis-5-32-no-docker-socket": lambda i: i["mounts"].append(
        {"type": "bind", "source": "/var/run/docker.sock", "target": "/sock"}),
    "cis-5-6-no-sensitive-host-mounts": lambda i: i["mounts"].append(
        {"type": "bind", "source": "/etc", "target": "/host-etc"}),
    "cis-5-20-no-shared-propagation": lambda i: i["mounts"].append(
        {"type": "bind", "source": "/srv/x", "target": "/x",
         "bindOptions": {"propagation": "shared"}}),
}
# Each of AppArmor (5.2) and seccomp (5.22) has its own rule.
DOUBLE: dict[tuple[str, ...], Callable[[dict[str, Any]], Any]] = {}
WEAKENINGS["cis-5-2-apparmor-not-unconfined"] = lambda i: i["securityOpts"].append(
    "apparmor=unconfined")
WEAKENINGS["cis-5-22-seccomp-not-disabled"] = lambda i: i["securityOpts"].append(
    "seccomp=unconfined")
CONTAINERS = ["lucia-ci-service", "lucia-ci-redis", "lucia-ci-sim-ha"]


def weakened(recording: Recording, name: str,
             weaken: Callable[[dict[str, Any]], Any]) -> list[Target]:
    def change(resource: Resource) -> dict[str, Any] | None:
        if resource.name != name:
            return None
        inputs = copy.deepcopy(resource.checked)
        inputs.setdefault("mounts", [])
        weaken(inputs)
        return inputs
    return targets(recording, change)


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("policy", sorted(WEAKENINGS))
def test_weakening_breaks_exactly_its_rule(recordings: dict[str, Recording], policy: str,
                                           container: str) -> None:
    found = evaluate(weakened(recordings["ci"], container, WEAKENINGS[policy]))
    assert {(v.policy, v.resource) for v in found} == {(policy, container)}


@pytest.mark.parametrize(("stack", "change"), [
    ("ci", {"driver": "macvlan"}), ("swarm", {"driver": "host"}), ("swarm", {"ingress": True}),
])
def test_network_on_another_driver_breaks_its_rule(recordings: dict[str, Recording],
                                                   stack: str, change: dict[str, Any]) -> None:
    """The stack's own bridge, or the swarm stack's own overlay; never the host's network
    or Swarm's ingress (the routing mesh)."""
    network = recordings[stack].named(f"lucia-{stack}-net")
    found = evaluate(targets(recordings[stack], lambda r: {**r.checked, **change}
                             if r is network else None))
    assert {(v.policy, v.resource) for v in found} == {
        ("cis-5-30-bridge-network-driver", f"lucia-{stack}-net")}


@pytest.mark.parametrize("container", CONTAINERS)
def test_missing_pids_limit_breaks_5_29(recordings: dict[str, Recording],
                                        container: str) -> None:
    """Drop one container's pids-limit command: the stack policy names that container."""
    recording = recordings["ci"]
    kept = [t for t in targets(recording) if t.name != f"{container}-pids-limit"]
    found = evaluate(kept)
    assert [(v.policy, v.message.split(":")[0]) for v in found] == [
        ("cis-5-29-pids-limit", container)]


def test_pids_limit_must_depend_on_its_container(recordings: dict[str, Recording]) -> None:
    """A command that runs before the container exists (no dependency) limits nothing."""
    recording = recordings["ci"]
    found = evaluate([Target(t.resource_type, t.name, t.urn, t.props,
                             [] if t.name == "lucia-ci-redis-pids-limit" else t.dependencies)
                      for t in targets(recording)])
    assert [v.message.split(":")[0] for v in found] == ["lucia-ci-redis"]


def test_pids_limit_must_be_triggered_by_its_container(
        recordings: dict[str, Recording]) -> None:
    """Without the container id as a trigger, a replaced container never gets it again."""
    recording = recordings["ci"]
    found = evaluate(targets(recording, lambda r: {**r.checked, "triggers": []}
                             if r.name == "lucia-ci-service-pids-limit" else None))
    assert [v.message.split(":")[0] for v in found] == ["lucia-ci-service"]


def _spec(inputs: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = inputs["taskSpec"]["containerSpec"]
    return spec


# Each service rule, broken on its own (lucia_stack/swarm.py is what they guard).
SERVICE_WEAKENINGS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "cis-4-1-service-non-root-user": lambda i: _spec(i).update(user="0:0"),
    "cis-5-4-service-capabilities-dropped": lambda i: _spec(i).update(capAdds=["SYS_ADMIN"]),
    "cis-5-6-service-no-sensitive-host-mounts": lambda i: _spec(i)["mounts"].append(
        {"type": "bind", "source": "/etc", "target": "/host-etc"}),
    "cis-5-11-service-memory-limited": lambda i: i["taskSpec"]["resources"]["limits"].pop(
        "memoryBytes"),
    "cis-5-12-service-cpu-limited": lambda i: i["taskSpec"]["resources"]["limits"].pop(
        "nanoCpus"),
    "cis-5-13-service-read-only-rootfs": lambda i: _spec(i).update(readOnly=False),
    "cis-5-14-service-not-published": lambda i: i.update(endpointSpec={
        "mode": "dnsrr", "ports": [{"targetPort": 8080, "publishedPort": 5999}]}),
    "cis-5-15-service-restart-policy": lambda i: i["taskSpec"]["restartPolicy"].update(
        condition="any"),
    "cis-5-27-service-healthcheck": lambda i: _spec(i).update(healthcheck={"tests": ["NONE"]}),
    "cis-5-30-service-own-network": lambda i: i["taskSpec"].update(networksAdvanceds=[]),
    "cis-5-32-service-no-docker-socket": lambda i: _spec(i)["mounts"].append(
        {"type": "bind", "source": "/var/run/docker.sock", "target": "/sock"}),
}


@pytest.mark.parametrize("service", ["lucia-swarm-service", "lucia-swarm-redis"])
@pytest.mark.parametrize("policy", sorted(SERVICE_WEAKENINGS))
def test_service_weakening_breaks_exactly_its_rule(recordings: dict[str, Recording],
                                                   policy: str, service: str) -> None:
    found = evaluate(weakened(recordings["swarm"], service, SERVICE_WEAKENINGS[policy]))
    assert {(v.policy, v.resource) for v in found} == {(policy, service)}


@pytest.mark.parametrize("service", ["lucia-swarm-service", "lucia-swarm-redis"])
def test_missing_service_pids_limit_breaks_5_29(recordings: dict[str, Recording],
                                                service: str) -> None:
    kept = [t for t in targets(recordings["swarm"]) if t.name != f"{service}-pids-limit"]
    assert [(v.policy, v.message.split(":")[0]) for v in evaluate(kept)] == [
        ("cis-5-29-pids-limit", service)]


def test_every_rule_is_exercised_by_a_weakening() -> None:
    covered = set(WEAKENINGS) | {n for names in DOUBLE for n in names}
    container_rules = {r.policy_name for r in RULES if r.resource_type == CONTAINER}
    assert container_rules == covered
    assert {r.policy_name for r in RULES if r.resource_type == SERVICE} == set(
        SERVICE_WEAKENINGS)
    assert {r.policy_name for r in RULES if r.resource_type == NETWORK} == {
        "cis-5-30-bridge-network-driver"}
    assert {r.policy_name for r in STACK_RULES} == {"cis-5-29-pids-limit"}


class _Reads(dict):
    """Inputs that remember every key a rule asks for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def test_no_rule_reads_an_input_the_resource_lacks(recordings: dict[str, Recording]) -> None:
    """Each rule reads only inputs pulumi-docker's resource has (the old 5.21 rule judged
    `utsMode`, which Container does not have, so it could never fire)."""
    import inspect

    import pulumi_docker

    inputs = {CONTAINER: pulumi_docker.ContainerArgs, NETWORK: pulumi_docker.NetworkArgs,
              SERVICE: pulumi_docker.ServiceArgs}
    for rule in RULES:
        schema = {_camel(p) for p in inspect.signature(inputs[rule.resource_type]).parameters}
        stack = "swarm" if rule.resource_type == SERVICE else "ci"
        sample = recordings[stack].of_type(rule.resource_type)[0].plain
        reads = _Reads(sample)
        rule.check(reads)
        assert reads.read <= schema, f"{rule.policy_name} reads {reads.read - schema}"


def test_rules_carry_cis_ids() -> None:
    for rule in (*RULES, *STACK_RULES):
        assert rule.cis_id.split(".")[0] in ("4", "5")
        assert rule.title.startswith("Ensure")


def test_policy_pack_has_one_mandatory_policy_per_rule() -> None:
    built = policies()
    assert [policy.name for policy in built] == [rule.policy_name for rule in
                                                 (*RULES, *STACK_RULES)]
    assert len({policy.name for policy in built}) == len(built)
    assert {policy.enforcement_level for policy in built} == {EnforcementLevel.MANDATORY}
    assert [p.name for p in built if isinstance(p, StackValidationPolicy)] == [
        "cis-5-29-pids-limit"]


def test_policy_pack_names_a_virtualenv_that_runs_it() -> None:
    """pulumi-language-python gives a policy pack (kind "analyzer") no default virtualenv,
    so PulumiPolicy.yaml must name one in which the pack imports."""
    import os
    import subprocess
    from pathlib import Path

    import yaml

    pack = Path(__file__).resolve().parents[2] / "infra" / "pulumi" / "policies"
    runtime = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]
    assert runtime["name"] == "python"
    # Not resolve(): the venv's python is a symlink, and only through it is the venv used.
    python = Path(os.path.normpath(pack / runtime["options"]["virtualenv"] / "bin" / "python"))
    result = subprocess.run([str(python), "-c", "import pulumi_policy, lucia_policies.pack"],
                            cwd=pack, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("stack", "restart", "allowed"), [
    ("ci", "always", False), ("ci", "unless-stopped", False), ("staging", "always", False),
    ("homelab", "unless-stopped", True), ("homelab", "always", False),
    ("dev", "unless-stopped", True),
])
def test_restart_exceptions_are_per_stack(recordings: dict[str, Recording], stack: str,
                                          restart: str, allowed: bool) -> None:
    """CIS 5.15: on-failure:5 everywhere, unless-stopped only where a stack documents it."""
    redis = f"lucia-{stack}-redis"
    found = evaluate(weakened(recordings[stack], redis, lambda i: i.update(restart=restart)))
    assert [v.policy for v in found] == ([] if allowed else ["cis-5-15-restart-policy"])
