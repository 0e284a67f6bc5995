"""Fixtures every gate layer shares: the deployed stack (from LUCIA_STACK and its outputs)
and the Docker engine. Layers refine `deployed` in their own conftest."""

from __future__ import annotations

import docker
import pytest

from lucia_deploy.stacks import StackError
from tests.support.deployed import Deployed


@pytest.fixture(scope="session")
def deployed() -> Deployed:
    try:
        return Deployed.load()
    except StackError as exc:
        pytest.fail(f"{exc}", pytrace=False)


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    return docker.from_env()
