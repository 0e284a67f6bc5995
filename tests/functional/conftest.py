"""Behaviour and contract gates against a deployed stack with its simulators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.deployed import Deployed


@pytest.fixture(scope="session")
def deployed(deployed: Deployed) -> Deployed:
    """The shared stack, which here must run its simulators."""
    found = deployed
    if "sim_ha_url" not in found.outputs:
        pytest.fail(f"stack {found.stack} runs without published simulators; the behaviour "
                    "gates need lucia:simulators: true and lucia:simulatorPortBase",
                    pytrace=False)
    return found


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
