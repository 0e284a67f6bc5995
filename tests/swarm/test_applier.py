"""The docker-py applier's Swarm services and secrets against the real engine, held to
pulumi-docker's rules (docs/pulumi-fidelity.md, lucia_deploy/provider.py): a second `up`
changes nothing; a replica count updates the service in place (same id); a new secret
value is a new auto-named secret, created before the old one is deleted, and the service
moves to it in a rolling update; every task gets its PIDs limit back after each update;
a service changed by hand is set back by the next `up`, as refresh reads its whole spec;
destroy removes services and secrets and keeps the volume unless purged.

Runs a stack of its own (`swarmfidelity`, port 5540, no simulators) on this engine's
swarm (started if there is none, and left at the end if it started it and nothing else
runs, as `lucia-deploy down` does)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from lucia_deploy import apply, provider, services, stacks
from lucia_deploy.cli import ensure_images, policy_violations
from lucia_deploy.recorder import Recording, record
from lucia_deploy.state import StackState
from lucia_deploy.verify import junit_cases

REPO = Path(__file__).resolve().parents[2]

STACK = "swarmfidelity"
BASE = {**stacks.stack_config("swarm"), "lucia:servicePort": 5540,
        "lucia:simulators": False, "lucia:simulatorPortBase": 0, "lucia:serviceReplicas": 1}


class SwarmDeployment:
    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.secrets, self.secret_keys = stacks.qualified_secrets(STACK)
        self.recording: Recording | None = None

    def record(self, api_key: str = "first-api-key-value", **overrides: Any) -> Recording:
        config = {**BASE, **{f"lucia:{k}": v for k, v in overrides.items()}}
        secrets = {**self.secrets, "lucia:apiKey": api_key}
        keys = sorted({*self.secret_keys, "lucia:apiKey"})
        names = record(STACK, {**config, **secrets}, keys, preview=True)
        ensure_images(self.client, names.outputs, config)
        prior = {e.name: e.state for e in self.state().resources.values()}
        recording = record(STACK, {**config, **secrets}, keys, prior=prior,
                           image_ids=lambda reference: self.client.images.get(reference).id)
        assert policy_violations(recording) == []
        self.recording = recording
        return recording

    def state(self) -> StackState:
        return StackState.load(stacks.applier_state_path(STACK))

    def applier(self) -> apply.Applier:
        applier = apply.Applier(self.client, self.state())
        applier.refresh()
        return applier

    def up(self, **overrides: Any) -> apply.Plan:
        applier = self.applier()
        plan = applier.plan(self.record(**overrides))
        plan.print()
        applier.apply(plan)
        return plan

    def service(self, role: str) -> dict[str, Any]:
        inspected: dict[str, Any] = self.client.api.inspect_service(f"lucia-{STACK}-{role}")
        return inspected

    def secret_names(self) -> set[str]:
        return {s.name for s in self.client.secrets.list(
            filters={"label": f"io.lucia.stack={STACK}"}) if s.name}


def actions(plan: apply.Plan) -> dict[str, str]:
    return {step.name: step.action for step in plan.steps}


@pytest.fixture(scope="module")
def deployment() -> Iterator[SwarmDeployment]:
    client = docker.from_env(timeout=120)
    services.ensure_swarm(client, STACK)
    deployment = SwarmDeployment(client)
    try:
        plan = deployment.up()
        assert set(actions(plan).values()) == {"create"}
        yield deployment
    finally:
        deployment.applier().destroy(purge=True)
        apply.sweep(client, "lucia", STACK, purge=True)
        (stacks.state_dir(STACK) / "outputs.json").unlink(missing_ok=True)
        services.forget_swarm_use(STACK)
        services.leave_swarm_if_unneeded(client)


def test_every_task_runs_hardened_with_its_pids_limit(deployment: SwarmDeployment) -> None:
    for role, limit in (("service", 256), ("redis", 64)):
        service = deployment.service(role)
        tasks = [c for c in deployment.client.containers.list(filters={
            "label": f"com.docker.swarm.service.id={service['ID']}"})]
        assert tasks, role
        for task in tasks:
            host = task.attrs["HostConfig"]
            assert host["PidsLimit"] == limit, task.name          # CIS 5.29, set after create
            assert host["ReadonlyRootfs"] is True, task.name       # CIS 5.13
            assert host["CapDrop"] == ["ALL"], task.name            # CIS 5.4
            status = task.exec_run(["grep", "NoNewPrivs", "/proc/1/status"]).output.decode()
            assert status.split() == ["NoNewPrivs:", "1"], task.name  # CIS 5.26 (daemon)


def test_second_up_changes_nothing(deployment: SwarmDeployment) -> None:
    ids = {role: deployment.service(role)["ID"] for role in ("service", "redis")}
    secrets = deployment.secret_names()
    plan = deployment.up()
    assert set(actions(plan).values()) == {"unchanged"}, actions(plan)
    assert {role: deployment.service(role)["ID"] for role in ids} == ids
    assert deployment.secret_names() == secrets


def test_replicas_update_the_service_in_place(deployment: SwarmDeployment) -> None:
    before = deployment.service("service")["ID"]
    plan = deployment.up(serviceReplicas=2)
    changed = {k: v for k, v in actions(plan).items() if v != "unchanged"}
    # The provider's Update (not a replacement); the PIDs command runs again after it,
    # because the Update sends a spec without the limit.
    assert changed == {f"lucia-{STACK}-service": "update",
                       f"lucia-{STACK}-service-pids-limit": "replace"}
    service = deployment.service("service")
    assert service["ID"] == before
    assert service["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    assert services.running_replicas(deployment.client, before) == (2, 2)
    assert service["Spec"]["TaskTemplate"]["Resources"]["Limits"]["Pids"] == 256


def test_a_new_secret_value_moves_the_service_to_a_new_secret(
        deployment: SwarmDeployment) -> None:
    old = {n for n in deployment.secret_names() if "-api-key-" in n}
    assert len(old) == 1
    plan = deployment.up(api_key="second-api-key-value", serviceReplicas=2)
    assert actions(plan)[f"lucia-{STACK}-secret-api-key"] == "replace"
    assert actions(plan)[f"lucia-{STACK}-service"] == "update"
    new = {n for n in deployment.secret_names() if "-api-key-" in n}
    assert len(new) == 1
    assert new != old
    mounted = {s["SecretName"] for s in deployment.service("service")["Spec"][
        "TaskTemplate"]["ContainerSpec"]["Secrets"]}
    assert new <= mounted
    assert not old & mounted


def _hardening_failures(tmp_path: Path, name: str) -> set[str]:
    """The hardening gate against the swarmfidelity stack: the checks that failed."""
    report = tmp_path / f"{name}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "tests/infra/test_cis_container_runtime.py", f"--junitxml={report}"],
                   cwd=REPO, env={**os.environ, "LUCIA_STACK": STACK}, capture_output=True,
                   text=True, timeout=600, check=False)
    return {c.name.split("::")[-1] for c in junit_cases(report) if c.outcome == "failed"}


def test_the_gate_fails_on_a_weakened_service_task(deployment: SwarmDeployment,
                                                   tmp_path: Path) -> None:
    """Proof for the gate's Swarm branches: green on the deployed stack, then a service
    updated by hand to restart on any exit, without its PIDs limit, with a writable root
    and a capability fails exactly those checks, on each of its tasks and nothing else."""
    assert deployment.recording is not None
    stacks.write_outputs(STACK, deployment.recording.outputs)
    assert _hardening_failures(tmp_path, "before") == set()
    service = f"lucia-{STACK}-service"
    subprocess.run(["docker", "service", "update", "--quiet", "--detach=false",
                    "--restart-condition", "any", "--limit-pids", "0", "--read-only=false",
                    "--cap-add", "NET_RAW", service], check=True, capture_output=True,
                   timeout=300)
    failed = _hardening_failures(tmp_path, "weakened")
    replicas = len([c for c in deployment.client.containers.list(
        filters={"label": f"com.docker.swarm.service.name={service}"})])
    ids = [f"service-{i}" for i in range(1, replicas + 1)] if replicas > 1 else ["service"]
    assert failed == {f"{check}[{task}]" for task in ids for check in (
        "test_cis_5_15_restart_policy", "test_cis_5_29_pids_limit",
        "test_cis_5_13_read_only_rootfs", "test_cis_5_4_capabilities_dropped")}


def test_the_next_up_sets_a_service_changed_by_hand_back(deployment: SwarmDeployment,
                                                         tmp_path: Path) -> None:
    """Refresh reads the whole spec (SF:109-175, reads.read_service), so the weakening
    above is a diff against the program: one in-place Update with the program's spec
    (same service). The PIDs-limit command does not run (its triggers, the service's
    outputs, read back as before), so the limit stays dropped, as with pulumi-docker;
    lucia-deploy's check after `up` sets it again, and the gate is green again."""
    service = f"lucia-{STACK}-service"
    before = deployment.service("service")["ID"]
    plan = deployment.up(api_key="second-api-key-value", serviceReplicas=2)
    changed = {k: v for k, v in actions(plan).items() if v != "unchanged"}
    assert changed == {service: "update"}
    step = plan.steps[[s.name for s in plan.steps].index(service)]
    assert step.diff is not None
    assert set(step.diff.changed) == {"taskSpec"}
    spec = deployment.service("service")["Spec"]["TaskTemplate"]
    assert deployment.service("service")["ID"] == before
    assert spec["RestartPolicy"]["Condition"] == "on-failure"
    assert spec["ContainerSpec"]["ReadOnly"] is True
    assert not spec["ContainerSpec"].get("CapabilityAdd")
    assert not spec["Resources"]["Limits"].get("Pids")
    assert services.restore_pids_limits(deployment.client, "lucia", STACK) == [service]
    spec = deployment.service("service")["Spec"]["TaskTemplate"]
    assert spec["Resources"]["Limits"]["Pids"] == 256
    assert services.restore_pids_limits(deployment.client, "lucia", STACK) == []
    assert _hardening_failures(tmp_path, "restored") == set()
    assert set(actions(deployment.up(api_key="second-api-key-value",
                                     serviceReplicas=2)).values()) == {"unchanged"}


def test_destroy_removes_services_and_secrets_and_keeps_the_volume(
        deployment: SwarmDeployment) -> None:
    applier = deployment.applier()
    removed = applier.destroy()
    assert any(item.startswith("service ") for item in removed)
    assert not deployment.client.services.list(filters={"label": f"io.lucia.stack={STACK}"})
    assert not deployment.secret_names()
    assert deployment.client.volumes.get(f"lucia-{STACK}-redis-data")
    assert services.swarm_state(deployment.client) == "active"  # the swarm stays


def test_service_change_kinds_follow_the_provider_table() -> None:
    """The rows the engine tests above rely on, from S/SF (provider.py cites them)."""
    table = provider.props(provider.SERVICE)
    assert table["taskSpec"].change == provider.Change.UPDATE
    assert "networksAdvanceds" in table["taskSpec"].replace_paths
    assert table["convergeConfig"].change == provider.Change.STATE
    assert all(p.change == provider.Change.REPLACE
               for p in provider.props(provider.SECRET).values())
