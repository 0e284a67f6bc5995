"""Record every stack's program once under the official Pulumi mocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lucia_deploy.recorder import Recording, record
from lucia_deploy.stacks import available_stacks, stack_config

STACKS = available_stacks()
# The stacks each engine builds (lucia:engine): container-shaped tests take the first.
CONTAINER_STACKS = [s for s in STACKS
                    if stack_config(s).get("lucia:engine", "container") == "container"]
SWARM_STACKS = [s for s in STACKS if stack_config(s).get("lucia:engine") == "swarm"]
TEST_SECRETS = {
    "lucia:redisPassword": "admin-password-for-tests",
    "lucia:redisServicePassword": "service-password-for-tests",
    "lucia:chatModel": "Endpoint=http://llm:8000/v1;AccessKey=sk-test-secret;Model=m;"
                       "Provider=openai",
    "lucia:embeddingsModel": "",
    "lucia:homeAssistantToken": "ha-test-secret-token",
    "lucia:apiKey": "api-test-secret-key",
}
SECRET_VALUES = [v for v in TEST_SECRETS.values() if v]

Record = Callable[..., Recording]


@pytest.fixture(scope="session")
def record_stack() -> Record:
    def run(stack: str, overrides: dict[str, Any] | None = None,
            secrets: dict[str, str] | None = None, *, preview: bool = False,
            prior: dict[str, dict[str, Any]] | None = None) -> Recording:
        config = {**stack_config(stack), **(overrides or {})}
        values = {**TEST_SECRETS, **(secrets or {})}
        return record(stack, {**config, **values}, sorted(values), preview=preview,
                      prior=prior)
    return run


@pytest.fixture(scope="session")
def recordings(record_stack: Record) -> dict[str, Recording]:
    return {stack: record_stack(stack) for stack in STACKS}
