"""Hardening gates against a deployed stack (named by LUCIA_STACK; make verify STACK=...).
Each check is parametrized over the stack's two containers."""

from __future__ import annotations

from typing import Any

import docker
import pytest
import testinfra

from tests.support.deployed import Deployed

COMPONENTS = ("service", "redis")


@pytest.fixture(params=COMPONENTS)
def component(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def inspect(engine: docker.DockerClient, deployed: Deployed, component: str) -> dict[str, Any]:
    """`docker inspect` of the parametrized container."""
    return engine.containers.get(deployed.container_name(component)).attrs


@pytest.fixture
def host(deployed: Deployed, component: str) -> testinfra.host.Host:
    """A testinfra host inside the parametrized container (docker exec)."""
    return testinfra.get_host(f"docker://{deployed.container_name(component)}")

