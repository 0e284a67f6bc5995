"""The docker-py applier against the real engine, held to what `pulumi up --refresh` with
pulumi-docker does (docs/pulumi-fidelity.md): a second `up` with nothing changed is a
plan of 0 changes and keeps every container; an in-place property (memory) updates the
running container; a ForceNew property replaces it; turning the simulators off deletes
their containers; a stopped container is started in place; the network is the one the
provider would leave (created on bridge, moved to the stack network); every container
gets its PIDs limit; destroy keeps the retained volume unless purged.

Runs a stack of its own (`fidelity`, ports 5440/5450-5451) beside any other."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest

from lucia_deploy import apply, stacks
from lucia_deploy.cli import ensure_images, policy_violations
from lucia_deploy.recorder import Recording, record
from lucia_deploy.state import StackState

STACK = "fidelity"
BASE = {**stacks.stack_config("ci"), "lucia:servicePort": 5440,
        "lucia:simulatorPortBase": 5450}


class Deployment:
    """The fidelity stack: record its program with overrides, plan, apply."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.secrets, self.secret_keys = stacks.qualified_secrets(STACK)

    def record(self, **overrides: Any) -> Recording:
        config = {**BASE, **{f"lucia:{k}": v for k, v in overrides.items()}}
        names = record(STACK, {**config, **self.secrets}, self.secret_keys, preview=True)
        ensure_images(self.client, names.outputs, config)
        recording = record(STACK, {**config, **self.secrets}, self.secret_keys,
                           image_ids=lambda reference: self.client.images.get(reference).id)
        assert policy_violations(recording) == []
        return recording

    def applier(self) -> apply.Applier:
        applier = apply.Applier(self.client,
                                StackState.load(stacks.applier_state_path(STACK)))
        applier.refresh()
        return applier

    def plan(self, **overrides: Any) -> tuple[apply.Applier, apply.Plan]:
        applier = self.applier()
        plan = applier.plan(self.record(**overrides))
        plan.print()
        return applier, plan

    def up(self, **overrides: Any) -> apply.Plan:
        applier, plan = self.plan(**overrides)
        applier.apply(plan)
        return plan

    def container_ids(self) -> dict[str, str]:
        return {c.name: c.id for c in apply.stack_containers(self.client, "lucia", STACK)}

    def inspect(self, name: str) -> dict[str, Any]:
        return self.client.api.inspect_container(f"lucia-{STACK}-{name}")


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    client = docker.from_env(timeout=120)
    deployment = Deployment(client)
    try:
        yield deployment
    finally:
        deployment.applier().destroy(purge=True)
        apply.sweep(client, "lucia", STACK, purge=True)
        shutil.rmtree(stacks.STATE / STACK, ignore_errors=True)


def actions(plan: apply.Plan) -> dict[str, str]:
    return {s.name: s.action for s in plan.steps}


def test_first_up_creates_everything(deployment: Deployment) -> None:
    plan = deployment.up()
    assert set(actions(plan).values()) == {"create"}, plan.summary()
    assert len(deployment.container_ids()) == 4


def test_second_up_is_a_plan_of_zero_changes_and_keeps_every_container(
        deployment: Deployment) -> None:
    before = deployment.container_ids()
    plan = deployment.up()
    assert plan.changes == [], [s.line() for s in plan.changes]
    assert deployment.container_ids() == before


@pytest.mark.parametrize("name", ["service", "redis", "sim-ha", "sim-llm"])
def test_every_container_has_its_pids_limit(deployment: Deployment, name: str) -> None:
    limit = deployment.inspect(name)["HostConfig"]["PidsLimit"]
    assert limit == {"service": 256, "redis": 64}.get(name, 64)


def test_network_is_what_the_provider_leaves(deployment: Deployment) -> None:
    """Created on network_mode bridge, then disconnected from bridge and connected to the
    stack network with its aliases (CF:462-501)."""
    found = deployment.inspect("service")
    assert found["HostConfig"]["NetworkMode"] == "bridge"
    networks = found["NetworkSettings"]["Networks"]
    assert list(networks) == [f"lucia-{STACK}-net"]
    assert "lucia" in networks[f"lucia-{STACK}-net"]["Aliases"]


def test_memory_change_updates_in_place(deployment: Deployment) -> None:
    before = deployment.container_ids()
    plan = deployment.up(serviceMemoryMb=600)
    assert {s.name: s.action for s in plan.changes} == {f"lucia-{STACK}-service": "update"}
    assert deployment.container_ids() == before
    host = deployment.inspect("service")["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (600 * 2**20, 600 * 2**20)


def test_cpus_change_replaces_the_container_and_reruns_its_pids_limit(
        deployment: Deployment) -> None:
    before = deployment.container_ids()
    plan = deployment.up(serviceMemoryMb=600, serviceCpus=1.0)
    assert {s.name: s.action for s in plan.changes} == {
        f"lucia-{STACK}-service": "replace", f"lucia-{STACK}-service-pids-limit": "replace"}
    after = deployment.container_ids()
    assert after[f"lucia-{STACK}-service"] != before[f"lucia-{STACK}-service"]
    assert after[f"lucia-{STACK}-redis"] == before[f"lucia-{STACK}-redis"]
    host = deployment.inspect("service")["HostConfig"]
    assert (host["NanoCpus"], host["PidsLimit"]) == (10**9, 256)


def test_stopped_container_is_started_in_place(deployment: Deployment) -> None:
    """The provider's Read sees must_run=false for a stopped container; Update starts it."""
    name = f"lucia-{STACK}-sim-llm"
    before = deployment.container_ids()[name]
    deployment.client.containers.get(name).stop(timeout=5)
    plan = deployment.up(serviceMemoryMb=600, serviceCpus=1.0)
    assert {s.name: s.action for s in plan.changes} == {name: "update"}
    assert plan.steps[[s.name for s in plan.steps].index(name)].diff.changed == {
        "mustRun": "update"}
    container = deployment.client.containers.get(name)
    assert (container.id, container.status) == (before, "running")


def test_limits_and_restart_policy_changed_by_hand_are_set_back_in_place(
        deployment: Deployment) -> None:
    """Read takes the restart policy and limits from the engine (CF:857-858, 932-944), so a
    `docker update` by hand is a diff; Update sets the program's values back (CF:1016-1072)
    on the same container."""
    name = f"lucia-{STACK}-service"
    before = deployment.container_ids()[name]
    program = deployment.inspect("service")["HostConfig"]
    deployment.client.containers.get(name).update(
        restart_policy={"Name": "always"}, mem_limit=700 * 2**20, memswap_limit=700 * 2**20)
    plan = deployment.up(serviceMemoryMb=600, serviceCpus=1.0)
    assert {s.name: s.action for s in plan.changes} == {name: "update"}
    step = plan.steps[[s.name for s in plan.steps].index(name)]
    assert step.diff.changed == {"restart": "update", "maxRetryCount": "update",
                                 "memory": "update", "memorySwap": "update"}
    host = deployment.inspect("service")["HostConfig"]
    assert deployment.container_ids()[name] == before
    assert (host["RestartPolicy"], host["Memory"], host["MemorySwap"]) == (
        program["RestartPolicy"], 600 * 2**20, 600 * 2**20)
    assert deployment.plan(serviceMemoryMb=600, serviceCpus=1.0)[1].changes == []


def test_a_container_renamed_by_hand_is_replaced(deployment: Deployment) -> None:
    """Read takes the name from the engine (CF:828); name is ForceNew (C:50-55), so the
    renamed container is deleted (by id) and one of the program's name created."""
    name = f"lucia-{STACK}-sim-ha"
    before = deployment.container_ids()[name]
    deployment.client.containers.get(name).rename(f"{name}-by-hand")
    plan = deployment.up(serviceMemoryMb=600, serviceCpus=1.0)
    assert {s.name: s.action for s in plan.changes} == {
        name: "replace", f"{name}-pids-limit": "replace"}
    after = deployment.container_ids()
    assert f"{name}-by-hand" not in after
    assert after[name] != before


def test_cpu_shares_set_by_hand_stay_and_show_on_every_plan(deployment: Deployment) -> None:
    """The program leaves cpu_shares unset. Read takes 512 from the engine (CF:949); Update
    sends the program's 0 (CF:1033), which Docker reads as "leave it" (ContainerUpdate
    changes only non-zero resources), so the shares stay and every plan shows the same
    update, as pulumi-docker's does."""
    name = f"lucia-{STACK}-sim-llm"  # deleted by the next test: the shares cannot go back
    deployment.client.containers.get(name).update(cpu_shares=512)
    for _ in range(2):
        plan = deployment.up(serviceMemoryMb=600, serviceCpus=1.0)
        assert {s.name: s.action for s in plan.changes} == {name: "update"}
        assert deployment.inspect("sim-llm")["HostConfig"]["CpuShares"] == 512


def test_turning_simulators_off_deletes_their_containers(deployment: Deployment) -> None:
    plan = deployment.up(serviceMemoryMb=600, serviceCpus=1.0, simulators=False,
                         simulatorPortBase=0)
    deleted = {s.name for s in plan.steps if s.action == "delete"}
    assert deleted == {f"lucia-{STACK}-sim-{r}{suffix}" for r in ("ha", "llm")
                       for suffix in ("", "-image", "-pids-limit")}
    assert set(deployment.container_ids()) == {f"lucia-{STACK}-service",
                                               f"lucia-{STACK}-redis"}
    # The service no longer points at the simulators: a ForceNew env change.
    assert actions(plan)[f"lucia-{STACK}-service"] == "replace"


def test_destroy_keeps_the_retained_volume_unless_purged(deployment: Deployment) -> None:
    volume = f"lucia-{STACK}-redis-data"
    removed = deployment.applier().destroy()
    assert deployment.container_ids() == {}
    assert f"volume {volume}" not in removed
    deployment.client.volumes.get(volume)  # still there: retain_on_delete
    assert StackState.load(stacks.applier_state_path(STACK)).empty
    # The next up takes the kept volume back into the state instead of creating one.
    plan = deployment.up(simulators=False, simulatorPortBase=0)
    assert actions(plan)[volume] == "import"
    deployment.applier().destroy(purge=True)
    with pytest.raises(docker.errors.NotFound):
        deployment.client.volumes.get(volume)


def test_state_holds_no_secret(deployment: Deployment) -> None:
    deployment.up(simulators=False, simulatorPortBase=0)
    text = stacks.applier_state_path(STACK).read_text()
    secrets = [v for v in deployment.secrets.values() if v]
    assert secrets, "the stack has secrets to look for"
    assert not [v for v in secrets if v in text]
    assert "secret-sha256" in text  # the envs are there, as digests


def test_a_create_that_fails_is_kept_tainted_and_replaced_next_time(
        deployment: Deployment) -> None:
    """As the provider records a container's id right after ContainerCreate: a start that
    fails (here the published port is taken) leaves an entry that `down` removes and the
    next `up` replaces."""
    deployment.applier().destroy()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 5440))
    holder.listen()
    try:
        with pytest.raises(docker.errors.APIError, match="address already in use"):
            deployment.up(simulators=False, simulatorPortBase=0)
        entry = StackState.load(stacks.applier_state_path(STACK)).resources
        tainted = [e.name for e in entry.values() if e.tainted]
        assert tainted == [f"lucia-{STACK}-service"]
    finally:
        holder.close()
    plan = deployment.up(simulators=False, simulatorPortBase=0)
    step = next(s for s in plan.steps if s.name == f"lucia-{STACK}-service")
    assert (step.action, step.reason) == ("replace", "tainted: its create did not finish")
    assert deployment.client.containers.get(f"lucia-{STACK}-service").status == "running"
    deployment.applier().destroy(purge=True)
    assert deployment.container_ids() == {}
