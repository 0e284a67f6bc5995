"""The mistakes operators really make, each reproduced for real: a bad value in a stack
file, a port held by another process, the engine unreachable, an unknown stack, a missing
backup file, a stack that is not up, a container that will not become healthy. Each gets
one clear message (no traceback), its own exit code, and either nothing created or exactly
the reported leftovers, and the next `up` after the fix converges."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from lucia_deploy import apply, stacks
from lucia_deploy.preflight import Exit

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / ".venv" / "bin" / "lucia-deploy"


def run(*words: str, env: dict[str, str] | None = None,
        tool: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*(tool or [str(DEPLOY)]), *words], cwd=REPO,
                            env={**os.environ, **(env or {})}, capture_output=True,
                            text=True, timeout=600, check=False)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


@pytest.fixture
def stack_file() -> Iterator[callable]:
    """Write Pulumi.<name>.yaml beside the real ones for the test; remove it after, with
    anything the stack left and its local state."""
    made: list[str] = []

    def write(name: str, text: str) -> str:
        stacks.stack_file(name).write_text(text)
        made.append(name)
        return name

    yield write
    client = docker.from_env()
    for name in made:
        run("down", "--stack", name, "--purge")
        apply.sweep(client, stacks.PROJECT, name, purge=True)
        stacks.stack_file(name).unlink(missing_ok=True)
        shutil.rmtree(stacks.STATE / name, ignore_errors=True)


def stack_objects(stack: str) -> list[str]:
    client = docker.from_env()
    labels = {"label": [f"io.lucia.project={stacks.PROJECT}", f"io.lucia.stack={stack}"]}
    return sorted([f"container {c.name}" for c in client.containers.list(all=True,
                                                                            filters=labels)]
                  + [f"network {n.name}" for n in client.networks.list(filters=labels)]
                  + [f"volume {v.name}" for v in client.volumes.list(filters=labels)])


CI_LIKE = """config:
  lucia:servicePort: {port}
  lucia:redisAppendfsync: always
  lucia:restartPolicy: on-failure
  lucia:restartMaxRetries: 5
  lucia:serviceCpus: 1.0
  lucia:serviceMemoryMb: 256
  lucia:redisMemoryMb: 128
"""


def test_bad_values_are_listed_together_and_nothing_is_created(stack_file) -> None:
    stack = stack_file("errs-config", 'config:\n  lucia:servicePort: "abc"\n'
                       "  lucia:redisAppendfsync: sometimes\n  lucia:servicePorts: 5000\n")
    for command in ("up", "policy", "preview"):
        result = run(command, "--stack", stack)
        assert result.returncode == Exit.CONFIG, (command, result.stderr)
        for expected in ("Pulumi.errs-config.yaml: lucia:servicePort = 'abc'",
                         "lucia:redisAppendfsync = 'sometimes'",
                         "lucia:servicePorts: unknown key"):
            assert expected in result.stderr, (command, result.stderr)
    assert stack_objects(stack) == []
    assert not stacks.applier_state_path(stack).exists()


def test_a_busy_port_is_found_before_anything_is_created(stack_file) -> None:
    stack = stack_file("errs-port", CI_LIKE.format(port=5460))
    holder = socket.socket()
    holder.bind(("127.0.0.1", 5460))
    holder.listen()
    try:
        result = run("up", "--stack", stack)
    finally:
        holder.close()
    assert result.returncode == Exit.PORT_BUSY, result.stderr
    assert "127.0.0.1:5460 (lucia:servicePort) is already in use" in result.stderr
    assert "nothing was created" in result.stderr
    assert stack_objects(stack) == []


def test_an_unreachable_engine_is_one_line() -> None:
    for command in ("up", "status", "down"):
        result = run(command, "--stack", "ci", env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
        assert result.returncode == Exit.ENGINE, (command, result.stderr)
        assert "the Docker engine is not reachable" in result.stderr


def test_an_unknown_stack_names_the_stacks() -> None:
    result = run("up", "--stack", "prod")
    assert result.returncode == Exit.CONFIG
    assert "no stack 'prod': Pulumi.prod.yaml does not exist (stacks: ci, dev" in \
        result.stderr


def test_a_missing_backup_file(tmp_path: Path) -> None:
    result = run("restore", "--stack", "ci", "--file", str(tmp_path / "nope.rdb"))
    assert result.returncode == Exit.BACKUP_FILE, result.stderr
    assert f"{tmp_path / 'nope.rdb'} does not exist" in result.stderr


def test_a_stack_that_is_not_up_is_one_line_everywhere(tmp_path: Path) -> None:
    env = {"LUCIA_STATE_DIR": str(tmp_path)}
    result = run("outputs", "--stack", "homelab", "--no-cli", env=env)
    assert result.returncode == Exit.NOT_UP
    assert "stack homelab is not up; run `make up STACK=homelab` first" in result.stderr
    for target in ("verify", "load", "faults"):
        found = run(target, "STACK=homelab", env=env,
                    tool=["make", "--no-print-directory"])
        assert found.returncode != 0, target
        assert "stack homelab is not up; run `make up STACK=homelab` first" in \
            found.stdout + found.stderr, target


def test_an_unhealthy_container_shows_its_logs_and_what_is_left_then_converges(
        stack_file) -> None:
    broken = CI_LIKE.format(port=5462) + "  lucia:serviceEnvironment:\n" \
                                         "    LUCIA_LOG_LEVEL: LOUD\n"
    stack = stack_file("errs-health", broken)
    result = run("up", "--stack", stack)
    assert result.returncode == Exit.UNHEALTHY, result.stderr[-3000:]
    assert "lucia-errs-health-service is" in result.stderr
    assert "LUCIA_LOG_LEVEL" in result.stderr  # its last log lines name the bad setting
    left = stack_objects(stack)
    for item in left:
        assert item in result.stderr, f"{item} is left but not reported"
    assert "make down STACK=errs-health" in result.stderr
    stack_file("errs-health", CI_LIKE.format(port=5462))  # the cause fixed
    again = run("up", "--stack", stack)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is up and healthy" in again.stdout
