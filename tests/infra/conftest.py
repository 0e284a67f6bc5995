"""Hardening gates against a deployed stack (named by LUCIA_STACK; make verify STACK=...).
Each check is parametrized over the stack's two containers."""

from __future__ import annotations

from typing import Any

import docker
import pytest
import testinfra

from tests.support.deployed import Deployed

COMPONENTS = ("service", "redis")


def targets() -> list[tuple[str, str | None]]:
    """(component, container) for every container the gates inspect: each of a Swarm
    service's running tasks, and the edge. A stack that is not up yields the components
    alone, so each test fails naming it (the `deployed` fixture says why)."""
    try:
        deployed = Deployed.load()
        # A component with no running container still gets its cases, which then fail
        # naming it: a service whose tasks are all down must not vanish from the gate.
        return [(component, name) for component in deployed.components()
                for name in deployed.containers(component) or [None]]
    except Exception:
        return [(component, None) for component in COMPONENTS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        found = targets()
        counts = {c: sum(1 for k, _ in found if k == c) for c, _ in found}
        seen: dict[str, int] = {}
        ids = []
        for component, _ in found:
            seen[component] = seen.get(component, 0) + 1
            ids.append(component if counts[component] == 1
                       else f"{component}-{seen[component]}")
        metafunc.parametrize("target", found, ids=ids)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    found: tuple[str, str | None] = request.param
    return found


@pytest.fixture
def component(target: tuple[str, str | None]) -> str:
    return target[0]


@pytest.fixture
def container_name(target: tuple[str, str | None], deployed: Deployed) -> str:
    return target[1] or deployed.container_name(target[0])


@pytest.fixture
def inspect(engine: docker.DockerClient, container_name: str) -> dict[str, Any]:
    """`docker inspect` of the parametrized container."""
    return engine.containers.get(container_name).attrs


@pytest.fixture
def host(container_name: str) -> testinfra.host.Host:
    """A testinfra host inside the parametrized container (docker exec)."""
    return testinfra.get_host(f"docker://{container_name}")


def swarm_service(inspect: dict[str, Any], engine: docker.DockerClient) -> dict[str, Any] | None:
    """The Swarm service a task container belongs to (None for a plain container)."""
    service_id = inspect["Config"]["Labels"].get("com.docker.swarm.service.id")
    return engine.api.inspect_service(service_id) if service_id else None

