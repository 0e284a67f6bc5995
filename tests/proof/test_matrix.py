"""Proof that every hardening check can fail: deploy the ci program weakened past the
policies, one deployment per group of rows in matrix.py, run the hardening gate against
it, and require that exactly the checks each row names fail (and nothing else); require
the policy pack, through pulumi_policy, to reject each row that a resource input can
express. Every check in tests/infra is killed by at least one row.

Prints the matrix: row, weakening, expected failures, actual failures, policy verdict."""

from __future__ import annotations

import copy
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from lucia_deploy import apply, stacks
from lucia_deploy.cli import ensure_images
from lucia_deploy.recorder import Recording, record
from lucia_deploy.state import StackState
from lucia_deploy.verify import junit_cases
from lucia_policies.pack import Target, evaluate
from tests.proof.matrix import (
    DEPLOYMENTS,
    DOCKERFILE_KILLS,
    SHARED_MOUNT,
    WEAK_DOCKERFILE,
    WEAK_REDIS_IMAGE,
    WEAK_SERVICE_IMAGE,
    Deployment,
    Weakening,
)

REPO = Path(__file__).resolve().parents[2]
PORT = 5380
APPARMOR = Path("/sys/module/apparmor").exists()
ROWS: list[tuple[str, str, str, str, str]] = []   # printed at the end


def check_key(name: str) -> str:
    """A check as the matrix names it: Dockerfile checks by name (their parameter is a
    file), the others with their container or command parameter."""
    base = name.split("[", 1)[0]
    return base if base in DOCKERFILE_KILLS else name


def gate_checks() -> set[str]:
    """Every check tests/infra collects (no stack needed to collect)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider", "tests/infra"], cwd=REPO,
                            capture_output=True, text=True, check=True)
    return {check_key(line.split("::")[-1]) for line in result.stdout.splitlines()
            if "::" in line}


def test_every_gate_check_is_killed_by_a_row() -> None:
    killed = {k for d in DEPLOYMENTS for w in d.weakenings for k in w.kills}
    killed |= DOCKERFILE_KILLS
    checks = gate_checks()
    assert len(checks) > 50
    assert checks - killed == set(), "checks no weakening proves can fail"
    assert killed - checks == set(), "rows name checks that do not exist"


def test_no_two_rows_of_a_deployment_kill_the_same_check() -> None:
    for deployment in DEPLOYMENTS:
        seen: dict[str, str] = {}
        for weakening in deployment.weakenings:
            for check in weakening.kills:
                assert check not in seen, f"{deployment.name}: {check} is killed by " \
                                          f"{seen.get(check)} and {weakening.key}"
                seen[check] = weakening.key


def base_recording(client: docker.DockerClient, stack: str) -> tuple[Recording, dict]:
    config = {**stacks.stack_config("ci"), "lucia:servicePort": PORT,
              "lucia:simulators": False, "lucia:simulatorPortBase": 0}
    secrets, keys = stacks.qualified_secrets(stack)
    names = record(stack, {**config, **secrets}, keys, preview=True)
    ensure_images(client, names.outputs, config)
    recording = record(stack, {**config, **secrets}, keys,
                       image_ids=lambda reference: client.images.get(reference).id)
    return recording, config


def weaken(recording: Recording, weakenings: tuple[Weakening, ...],
           client: docker.DockerClient) -> dict[str, dict[str, Any]]:
    """Apply the rows to the recording; return the engine-only settings by container."""
    engine: dict[str, dict[str, Any]] = {}
    stack = recording.outputs["network"].removesuffix("-net")
    for weakening in weakenings:
        name = f"{stack}-{weakening.component}"
        container = recording.named(name)
        if weakening.change:
            weakening.change(container.checked)
        for component, change in weakening.others:
            change(recording.named(f"{stack}-{component}").checked)
        if weakening.image:
            container.checked["image"] = client.images.get(weakening.image).id
        if weakening.drop_pids_limit:
            recording.resources.remove(recording.named(f"{name}-pids-limit"))
        engine.setdefault(name, {}).update(weakening.engine)
    return engine


def policy_verdict(recording: Recording, weakening: Weakening,
                   client: docker.DockerClient) -> set[str]:
    """The policies that reject this row alone (on a fresh copy of the recording)."""
    copied = copy.deepcopy(recording)
    weaken(copied, (weakening,), client)
    return {v.policy for v in evaluate([Target(r.type, r.name, r.urn, r.checked,
                                               r.dependencies) for r in copied.custom])}


class EngineWeakeningApplier(apply.Applier):
    """The applier, plus settings no resource input can carry (UTS mode)."""

    def __init__(self, client: docker.DockerClient, state: StackState,
                 engine: dict[str, dict[str, Any]]) -> None:
        super().__init__(client, state)
        self.engine = engine

    def _create_container(self, inputs: dict[str, Any], created: Any) -> str:
        extra = self.engine.get(inputs["name"], {})
        original = self.client.api.create_host_config
        self.client.api.create_host_config = lambda **kw: original(**{**kw, **extra})
        try:
            return super()._create_container(inputs, created)
        finally:
            self.client.api.create_host_config = original


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@pytest.fixture(scope="module")
def proof_images(client: docker.DockerClient) -> Iterator[None]:
    """A weak service image and a Redis image tagged only `latest`, built for the proof."""
    secrets, keys = stacks.qualified_secrets("ci")
    outputs = record("ci", {**stacks.stack_config("ci"), **secrets}, keys,
                     preview=True).outputs
    service, redis_ref = outputs["service_image"], outputs["redis_image"]
    weak = ("USER root\nRUN chmod u+s /usr/bin/env\n"
            "ENV LUCIA_PROOF_TOKEN=proof-token-in-the-image\nHEALTHCHECK NONE\n")
    dockerfiles = {WEAK_SERVICE_IMAGE: f"FROM {service}\n{weak}",
                   WEAK_REDIS_IMAGE: f"FROM {redis_ref}\n{weak}"}
    for tag, text in dockerfiles.items():
        client.images.build(fileobj=io.BytesIO(text.encode()), tag=tag, rm=True)
    yield
    for tag in dockerfiles:
        client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def shared_mount() -> Iterator[str]:
    """5.20 needs a shared mount to bind with rshared propagation (/ is private here)."""
    Path(SHARED_MOUNT).mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", SHARED_MOUNT],
                   check=True)
    subprocess.run(["mount", "--make-shared", SHARED_MOUNT], check=True)
    yield SHARED_MOUNT
    subprocess.run(["umount", SHARED_MOUNT], check=False)


def run_gate(stack: str, report: Path, dockerfile: Path | None) -> tuple[set[str], set[str]]:
    env = {**os.environ, "LUCIA_STACK": stack}
    if dockerfile:
        env["LUCIA_GATE_DOCKERFILES"] = str(dockerfile)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "tests/infra", f"--junitxml={report}"], cwd=REPO, env=env,
                   capture_output=True, text=True, timeout=600, check=False)
    cases = junit_cases(report)
    return ({check_key(c.name.split("::")[-1]) for c in cases if c.outcome == "failed"},
            {check_key(c.name.split("::")[-1]) for c in cases if c.outcome == "skipped"})


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_each_row_kills_exactly_its_checks(deployment: Deployment, client: docker.DockerClient,
                                           proof_images: None, shared_mount: str,
                                           tmp_path: Path) -> None:
    started = time.monotonic()
    stack = f"ci-{deployment.name}"
    recording, _ = base_recording(client, stack)
    verdicts = {w.key: policy_verdict(recording, w, client) for w in deployment.weakenings}
    engine = weaken(recording, deployment.weakenings, client)
    applier = EngineWeakeningApplier(
        client, StackState.load(stacks.applier_state_path(stack)), engine)
    dockerfile = None
    if deployment.dockerfile:
        dockerfile = tmp_path / "weak" / "Dockerfile"
        dockerfile.parent.mkdir()
        dockerfile.write_text(WEAK_DOCKERFILE)
    try:
        applier.apply(applier.plan(recording))
        stacks.write_outputs(stack, recording.outputs)
        failed, skipped = run_gate(stack, tmp_path / "gate.xml", dockerfile)
    finally:
        applier.destroy(purge=True)
        apply.sweep(client, stacks.PROJECT, stack, purge=True)
    expected: set[str] = set(DOCKERFILE_KILLS) if deployment.dockerfile else set()
    must_skip: set[str] = set()
    for weakening in deployment.weakenings:
        (must_skip if weakening.needs_apparmor and not APPARMOR else expected).update(
            weakening.kills)
        verdict = verdicts[weakening.key]
        shown = ", ".join(sorted(verdict)) or f"none ({weakening.why_no_policy})"
        ROWS.append((weakening.key, weakening.what, ", ".join(sorted(weakening.kills)),
                     ", ".join(sorted(weakening.kills & (failed | skipped))), shown))
        policies = {weakening.policy} if isinstance(weakening.policy, str) else \
            set(weakening.policy or ())
        assert verdict == policies, f"{weakening.key}: policies {verdict}, expected {policies}"
        assert weakening.policy or weakening.why_no_policy, weakening.key
    print(f"\n{stack}: {len(deployment.weakenings)} rows, {len(failed)} checks failed, "
          f"deployed and gated in {time.monotonic() - started:.0f} s")
    assert must_skip <= skipped, f"not skipped: {must_skip - skipped}"
    assert failed == expected, (f"unexpected failures {sorted(failed - expected)}; "
                                f"not killed {sorted(expected - failed)}")


def test_zz_print_the_matrix() -> None:
    """The matrix as run (named to run last in this module)."""
    assert ROWS, "no deployment ran"
    print(f"\n{'row':28} {'weakening':44} policy verdict / killed checks")
    for key, what, kills, actual, policy in ROWS:
        print(f"{key:28} {what[:44]:44} {policy}\n{'':28} expected: {kills}\n"
              f"{'':28} actual:   {actual}")
    print(f"{len(ROWS)} rows over {len(DEPLOYMENTS)} deployments")
