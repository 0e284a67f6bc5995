"""Gates against a deployed stack. The stack is named by LUCIA_STACK (make verify
STACK=...); where it is comes only from its outputs, never from constants here."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from typing import Any

import docker
import pytest
import testinfra

from lucia_deploy.stacks import StackError, read_outputs

COMPONENTS = ("service", "redis")


@dataclass(frozen=True)
class Deployed:
    stack: str
    outputs: dict[str, Any]

    @property
    def url(self) -> str:
        return self.outputs["service_url"]

    def container_name(self, component: str) -> str:
        return self.outputs[f"{component}_container"]


@pytest.fixture(scope="session")
def deployed() -> Deployed:
    stack = os.environ.get("LUCIA_STACK", "dev")
    try:
        return Deployed(stack, read_outputs(stack))
    except StackError as exc:
        pytest.fail(f"{exc}", pytrace=False)


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    return docker.from_env()


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


def http(method: str, url: str, body: dict[str, Any] | None = None,
         timeout: float = 10) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
