"""Behaviour and contract gates against a deployed stack with its simulators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from lucia_deploy.stacks import StackError
from tests.support.deployed import Deployed


@pytest.fixture(scope="session")
def deployed() -> Deployed:
    try:
        found = Deployed.load()
    except StackError as exc:
        pytest.fail(f"{exc}", pytrace=False)
    if "sim_ha_url" not in found.outputs:
        pytest.fail(f"stack {found.stack} runs without published simulators; the behaviour "
                    "gates need lucia:simulators: true and lucia:simulatorPortBase",
                    pytrace=False)
    return found


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    return docker.from_env()


class Simulator:
    def __init__(self, deployed: Deployed, role: str) -> None:
        self.deployed = deployed
        self.base = deployed.outputs[f"sim_{role}_url"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": "Bearer sim-ha-token"}
        status, payload = self.deployed.call(method, path, body, auth=False, base=self.base,
                                             headers=headers)
        assert status < 400, f"simulator {self.base}{path}: {status} {payload}"
        return payload


@pytest.fixture
def ha(deployed: Deployed) -> Iterator[Simulator]:
    """The Home Assistant simulator, reset before and after the test."""
    sim = Simulator(deployed, "ha")
    sim.call("POST", "/sim/reset")
    yield sim
    sim.call("POST", "/sim/reset")


@pytest.fixture
def llm(deployed: Deployed) -> Iterator[Simulator]:
    """The LLM simulator, reset before and after the test."""
    sim = Simulator(deployed, "llm")
    sim.call("POST", "/sim/reset")
    yield sim
    sim.call("POST", "/sim/reset")
