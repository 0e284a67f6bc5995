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


def fresh(deployed: Deployed, role: str) -> Iterator[Simulator]:
    """A simulator reset before and after the test that uses it."""
    sim = Simulator(deployed, role)
    sim.call("POST", "/sim/reset")
    yield sim
    sim.call("POST", "/sim/reset")


@pytest.fixture
def ha(deployed: Deployed) -> Iterator[Simulator]:
    """The Home Assistant simulator (lights, thermostat), reset around the test."""
    yield from fresh(deployed, "ha")


@pytest.fixture
def llm(deployed: Deployed) -> Iterator[Simulator]:
    """The OpenAI-compatible simulator, reset around the test."""
    yield from fresh(deployed, "llm")
