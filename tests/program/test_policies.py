"""The CrossGuard rules on the inputs the mocks captured: every stack passes; a
deliberately weakened container breaks exactly the rules it should."""

from __future__ import annotations

import copy

import pytest
from pulumi_policy import EnforcementLevel

from lucia_deploy.recorder import Recording
from lucia_policies.pack import policies
from lucia_policies.rules import EXCEPTIONS, RULES, check_resource
from tests.program.conftest import STACKS

CONTAINER = "docker:index/container:Container"


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_every_policy(recordings: dict[str, Recording], stack: str) -> None:
    violations = [str(v) for r in recordings[stack].resources if r.custom
                  for v in check_resource(r.type, r.name, r.plain)]
    assert violations == []


WEAKENINGS = {
    "cis-5-13-read-only-rootfs": lambda i: i.update(readOnly=False),
    "cis-4-1-non-root-user": lambda i: i.update(user="root"),
    "cis-5-4-capabilities-dropped": lambda i: i.update(capabilities={"adds": ["NET_ADMIN"]}),
    "cis-5-5-not-privileged": lambda i: i.update(privileged=True),
    "cis-5-14-bound-to-loopback": lambda i: [p.update(ip="0.0.0.0") for p in i["ports"]],
    "cis-5-8-no-privileged-ports": lambda i: [p.update(external=80) for p in i["ports"]],
    "cis-5-26-no-new-privileges": lambda i: i.update(securityOpts=[]),
    "cis-5-11-memory-limited": lambda i: i.pop("memory"),
    "cis-5-12-cpu-limited": lambda i: i.pop("cpus"),
    "cis-5-13-tmpfs-hardened": lambda i: i.update(tmpfs={"/tmp": "rw,size=64m"}),
    "cis-5-15-restart-policy": lambda i: i.update(restart="no"),
    "cis-5-27-healthcheck": lambda i: i.update(healthcheck={"tests": ["NONE"]}),
    "cis-5-30-not-default-bridge": lambda i: i.update(networksAdvanced=[]),
    "cis-5-10-no-host-network": lambda i: i.update(networkMode="host"),
    "cis-5-16-no-host-pid": lambda i: i.update(pidMode="host"),
    "cis-5-17-no-host-ipc": lambda i: i.update(ipcMode="host"),
    "cis-5-21-no-host-uts": lambda i: i.update(utsMode="host"),
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
# Unconfined seccomp breaks two rules at once: CIS 5.2 (AppArmor/seccomp) and 5.22.
DOUBLE = {("cis-5-2-apparmor-not-unconfined", "cis-5-22-seccomp-not-disabled"):
          lambda i: i.update(securityOpts=["no-new-privileges:true", "seccomp=unconfined"])}


@pytest.mark.parametrize("policy", sorted(WEAKENINGS))
def test_weakening_breaks_exactly_its_rule(recordings: dict[str, Recording],
                                           policy: str) -> None:
    service = recordings["ci"].named("lucia-ci-service").plain
    weakened = copy.deepcopy(service)
    weakened.setdefault("mounts", [])
    WEAKENINGS[policy](weakened)
    found = {v.rule.policy_name for v in check_resource(CONTAINER, "svc", weakened)}
    assert found == {policy}


def test_unconfined_seccomp_breaks_both_of_its_rules(recordings: dict[str, Recording]) -> None:
    (names, weaken), = DOUBLE.items()
    weakened = copy.deepcopy(recordings["ci"].named("lucia-ci-redis").plain)
    weaken(weakened)
    assert {v.rule.policy_name for v in check_resource(CONTAINER, "r", weakened)} == set(names)


def test_every_rule_is_exercised_by_a_weakening() -> None:
    covered = set(WEAKENINGS) | {n for names in DOUBLE for n in names}
    container_rules = {r.policy_name for r in RULES if r.resource_type == CONTAINER}
    assert container_rules == covered


def test_rules_carry_cis_ids_and_the_pids_exception_is_documented() -> None:
    for rule in RULES:
        assert rule.cis_id.split(".")[0] in ("4", "5")
        assert rule.title.startswith("Ensure")
    assert "5.29" in EXCEPTIONS
    assert "5.29" not in {rule.cis_id for rule in RULES}


def test_policy_pack_has_one_mandatory_policy_per_rule() -> None:
    built = policies()
    assert [policy.name for policy in built] == [rule.policy_name for rule in RULES]
    assert len({policy.name for policy in built}) == len(built)
    assert {policy.enforcement_level for policy in built} == {EnforcementLevel.MANDATORY}
