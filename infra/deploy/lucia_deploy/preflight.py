"""Preflight: everything `up` needs, checked before anything is created, every problem
reported together: the stack file's settings (file, key, value, what is allowed), the
secrets, the Docker engine, every host port the stack will publish, and the images.

Each kind of problem has its own exit code, shared by every `lucia-deploy` command, so a
script can tell an operator's mistake from another (docs/deployment.md lists them)."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import docker
import docker.errors
from pydantic import ValidationError

from lucia_deploy import images, stacks


class Exit(IntEnum):
    """lucia-deploy's exit codes, one per kind of failure."""

    OK = 0
    FAILED = 1           # anything not listed below
    CONFIG = 2           # a stack file or its settings (or an unknown stack)
    PORT_BUSY = 3        # a host port the stack publishes is taken
    ENGINE = 4           # the Docker engine is not reachable
    IMAGE = 5            # an image cannot be built or pulled
    UNHEALTHY = 6        # a container did not become healthy
    BACKUP_FILE = 7      # the backup file to restore does not exist
    NOT_UP = 8           # the stack is not up (outputs, gates)
    SECRETS = 9          # a secret the stack needs is missing
    POLICY = 10          # a hardening policy rejects the stack
    STATE = 11           # the state file cannot be read, or the other deploy path holds it


class DeployError(RuntimeError):
    """A failure an operator can act on: one message, one exit code."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Problem:
    code: Exit
    message: str


# Checked in this order; the exit code is the first problem's.
ORDER = (Exit.ENGINE, Exit.CONFIG, Exit.SECRETS, Exit.PORT_BUSY, Exit.IMAGE)


def settings_problems(stack: str) -> list[Problem]:
    """Every bad setting in the stack file, each with the file, key, value and rule."""
    from lucia_stack.config import SECRET_KEYS, StackSettings, describe

    try:
        config = stacks.stack_config(stack)
    except stacks.StackError as exc:
        return [Problem(Exit.CONFIG, str(exc))]
    file = stacks.stack_file(stack).name
    values: dict[str, Any] = {}
    problems = []
    secrets = {s.name for s in SECRET_KEYS}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace != "lucia" or not (name in StackSettings.model_fields or name in secrets):
            problems.append(Problem(Exit.CONFIG, f"{file}: {key}: unknown key (the keys are "
                                                 "listed in docs/configuration.md)"))
        elif name in secrets:
            problems.append(Problem(Exit.CONFIG, f"{file}: {key}: a secret in plain text; "
                                                 "give it in the environment, or encrypted "
                                                 "(`pulumi config set --secret`)"))
        else:
            values[name] = value
    for key in stacks.secure_keys(stack):
        if key.partition(":")[2] not in secrets:
            problems.append(Problem(Exit.CONFIG, f"{file}: {key}: encrypted, but it is not a "
                                                 "secret and only the Pulumi CLI could read "
                                                 "it (the offline path would use the "
                                                 "default); write it in plain text"))
    try:
        StackSettings.model_validate(values)
    except ValidationError as exc:
        problems += [Problem(Exit.CONFIG, f"{file}: {line}") for line in describe(exc)]
    return problems


def secrets_problems(stack: str) -> list[Problem]:
    try:
        stacks.stack_secrets(stack)
    except stacks.StackError as exc:
        return [Problem(Exit.SECRETS, str(exc))]
    return []


def published_ports(stack: str) -> dict[int, str]:
    """Host port -> the setting that publishes it (all on 127.0.0.1)."""
    from lucia_stack.config import StackSettings

    config = stacks.stack_config(stack)
    settings = StackSettings.model_validate({k.split(":", 1)[1]: v for k, v in config.items()
                                             if k.split(":", 1)[1] in StackSettings.model_fields})
    ports = {settings.servicePort: "lucia:servicePort"}
    if settings.redisPublishPort:
        ports[settings.redisPublishPort] = "lucia:redisPublishPort"
    if settings.simulators and settings.simulatorPortBase:
        ports[settings.simulatorPortBase] = "lucia:simulatorPortBase"
        ports[settings.simulatorPortBase + 1] = "lucia:simulatorPortBase + 1"
    return ports


def _held_by_this_stack(client: docker.DockerClient, stack: str) -> set[int]:
    held = set()
    for container in client.containers.list(filters={"label": [
            f"io.lucia.project={stacks.PROJECT}", f"io.lucia.stack={stack}"]}):
        for bindings in (container.ports or {}).values():
            held |= {int(b["HostPort"]) for b in bindings or []}
    return held


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now. SO_REUSEADDR as servers (and
    Docker's proxy) set it: connections in TIME_WAIT from earlier traffic do not hold a
    port, a listening socket does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def port_problems(stack: str, client: docker.DockerClient) -> list[Problem]:
    held = _held_by_this_stack(client, stack)
    return [Problem(Exit.PORT_BUSY, f"127.0.0.1:{port} ({setting}) is already in use by "
                                    f"another process; free it or change {setting.split()[0]} "
                                    f"in {stacks.stack_file(stack).name}")
            for port, setting in sorted(published_ports(stack).items())
            if port not in held and not port_free(port)]


def image_problems(stack: str, client: docker.DockerClient) -> list[Problem]:
    """Local builds need their base images (or debootstrap to make them); a registry
    reference must be present or pullable (pulled by `up`)."""
    problems = []
    config = stacks.stack_config(stack)
    builds_locally = not config.get("lucia:serviceImage") or not config.get("lucia:redisImage")
    if builds_locally:
        for recipe in images.BASES.values():
            if not images.image_exists(client, recipe.tag) and \
                    images.shutil.which("debootstrap") is None:
                problems.append(Problem(Exit.IMAGE, f"base image {recipe.tag} is missing and "
                                                    "debootstrap is not installed to build "
                                                    "it; run `make bootstrap` as root"))
    return problems


def engine(timeout: int = 120) -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DeployError(f"the Docker engine is not reachable ({exc}); run `make bootstrap` "
                          "(as root it installs and starts dockerd), or check DOCKER_HOST",
                          Exit.ENGINE) from None
    return client


def check(stack: str) -> docker.DockerClient:
    """Run every check; raise DeployError listing them all, or return the engine."""
    problems: list[Problem] = []
    client = None
    try:
        client = engine()
    except DeployError as exc:
        problems.append(Problem(exc.code, str(exc)))
    problems += settings_problems(stack)
    if not [p for p in problems if p.code == Exit.CONFIG]:
        problems += secrets_problems(stack)
        if client is not None:
            problems += port_problems(stack, client) + image_problems(stack, client)
    if problems:
        problems.sort(key=lambda p: ORDER.index(p.code) if p.code in ORDER else len(ORDER))
        lines = "\n".join(f"  - {p.message}" for p in problems)
        raise DeployError(f"preflight for stack {stack}: {len(problems)} problem(s), nothing "
                          f"was created:\n{lines}", problems[0].code)
    assert client is not None
    return client
