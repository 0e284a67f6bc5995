"""Behaviour and contract gates against a deployed stack, in its profile (full where the
simulators run, live elsewhere: tests/support/profile.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import profile
from tests.support.deployed import Deployed


@pytest.fixture(scope="session")
def simulators(deployed: Deployed) -> Deployed:
    """The stack, when it runs the full profile (its simulators published); otherwise the
    test is skipped with the reason, never errored."""
    chosen, why = profile.choose(deployed.outputs)
    if chosen != profile.FULL:
        pytest.skip(f"needs the simulators; stack {deployed.stack} runs the {chosen} "
                    f"profile ({why})")
    return deployed


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
