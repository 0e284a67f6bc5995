"""Proof that the hardening gate can fail: deploy `ci-weak`, the ci program with its
service container deliberately weakened (writable root filesystem, root user, port on
0.0.0.0, no capability drop), run the hardening gate against it, and require that exactly
the checks for those weaknesses fail.

The weakening is applied to the recorded resources, past the policies, because the program
itself cannot express it; the policies are asserted to reject it as well."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from lucia_deploy import apply, stacks
from lucia_deploy.cli import ensure_images, policy_violations
from lucia_deploy.recorder import Recording, record
from lucia_deploy.state import StackState

REPO = Path(__file__).resolve().parents[2]
STACK = "ci-weak"
PORT = 5380
# Each weakening, and the gate checks that must catch it (service container only).
EXPECTED_FAILURES = {
    "test_cis_4_1_container_user_is_not_root[service]",          # root user
    "test_cis_5_4_capabilities_dropped[service]",                # no capability drop
    "test_cis_5_13_read_only_rootfs[service]",                   # writable root fs
    "test_cis_5_14_ports_bound_to_loopback[service]",            # port on 0.0.0.0
    # root on a writable root fs can rewrite the application: this check must notice.
    "test_lucia_code_not_writable_by_runtime_user[service]",
}


def weaken(recording: Recording) -> None:
    service = recording.named(f"lucia-{STACK}-service")
    inputs = service.checked
    inputs["readOnly"] = False
    inputs["user"] = "0:0"
    inputs.pop("capabilities")
    for port in inputs["ports"]:
        port["ip"] = "0.0.0.0"


@pytest.fixture(scope="module")
def weak_stack() -> Iterator[Recording]:
    client = docker.from_env()
    config = {**stacks.stack_config("ci"), "lucia:servicePort": PORT,
              "lucia:simulators": False, "lucia:simulatorPortBase": 0}
    secret_values, secret_keys = stacks.qualified_secrets(STACK)
    names = record(STACK, {**config, **secret_values}, secret_keys, preview=True)
    ensure_images(client, names.outputs, config)
    recording = record(STACK, {**config, **secret_values}, secret_keys,
                       image_ids=lambda reference: client.images.get(reference).id)
    assert policy_violations(recording) == []
    weaken(recording)
    applier = apply.Applier(client, StackState(stacks.applier_state_path(STACK)))
    try:
        applier.apply(applier.plan(recording))
        stacks.write_outputs(STACK, recording.outputs)
        yield recording
    finally:
        applier.destroy(purge=True)
        apply.sweep(client, stacks.PROJECT, STACK, purge=True)
        shutil.rmtree(stacks.STATE / STACK, ignore_errors=True)


def test_policies_reject_the_weakened_service(weak_stack: Recording) -> None:
    found = {line.split()[2].rstrip(":") for line in policy_violations(weak_stack)}
    assert found == {"cis-4-1-non-root-user", "cis-5-4-capabilities-dropped",
                     "cis-5-13-read-only-rootfs", "cis-5-14-bound-to-loopback"}


def test_hardening_gate_fails_exactly_on_the_weakened_checks(weak_stack: Recording,
                                                             tmp_path: Path) -> None:
    report = tmp_path / "weak.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/infra/test_cis_container_runtime.py", "tests/infra/test_cis_images.py",
         f"--junitxml={report}"],
        cwd=REPO, env={**__import__("os").environ, "LUCIA_STACK": STACK},
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-2000:]
    cases = list(ElementTree.parse(report).getroot().iter("testcase"))
    failed = {case.get("name") for case in cases
              if case.find("failure") is not None or case.find("error") is not None}
    print(f"\nci-weak: {len(failed)} of {len(cases)} hardening checks failed: {sorted(failed)}")
    assert failed == EXPECTED_FAILURES
