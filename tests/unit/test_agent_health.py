"""Agent health is derived from the dependencies each agent declares, never from its id:
the status of an agent is the worst its own dependencies allow; the service's is the
worst of all, where an unconfigured Home Assistant is a choice, not a fault."""

from __future__ import annotations

from typing import Any

import pytest

from lucia.app import create_app
from lucia.capacity import Storage, StorageState
from lucia.dependencies import Dependency
from lucia.health import HealthReport, HomeAssistantState, LlmState, RedisState
from lucia.keys import REGISTRY
from lucia.settings import Settings

REDIS, HOME_ASSISTANT, LLM = Dependency.REDIS, Dependency.HOME_ASSISTANT, Dependency.LLM


def report(redis: RedisState = "Connected", home_assistant: HomeAssistantState = "Connected",
           llm: LlmState = "Configured", storage: StorageState = "Ok") -> HealthReport:
    return HealthReport(redis=redis, home_assistant=home_assistant, llm=llm,
                        storage=Storage(storage))


@pytest.mark.parametrize(
    ("state", "service", "device_agent", "llm_agent"),
    [
        ({}, "Healthy", "Healthy", "Healthy"),
        ({"home_assistant": "NotConfigured"}, "Healthy", "Degraded", "Healthy"),
        ({"home_assistant": "Disconnected"}, "Degraded", "Degraded", "Healthy"),
        ({"llm": "Unreachable"}, "Degraded", "Healthy", "Degraded"),
        ({"llm": "Offline"}, "Healthy", "Healthy", "Healthy"),
        ({"storage": "High"}, "Degraded", "Degraded", "Degraded"),
        ({"storage": "Full"}, "Unhealthy", "Unhealthy", "Unhealthy"),
        ({"redis": "Disconnected", "storage": "Unknown"}, "Unhealthy", "Unhealthy",
         "Unhealthy"),
        ({"redis": "Disconnected", "llm": "Unreachable"}, "Unhealthy", "Unhealthy",
         "Unhealthy"),
    ],
)
def test_status_is_the_worst_the_dependencies_allow(
        state: dict[str, Any], service: str, device_agent: str, llm_agent: str) -> None:
    found = report(**state)
    assert found.status == service
    assert found.agent_status((HOME_ASSISTANT, REDIS)) == device_agent
    assert found.agent_status((LLM, REDIS)) == llm_agent


def test_an_agent_that_needs_nothing_is_healthy_whatever_is_down() -> None:
    assert report(redis="Disconnected", llm="Unreachable").agent_status(()) == "Healthy"


def test_reasons_name_each_failing_dependency_in_order() -> None:
    found = HealthReport(redis="Disconnected", home_assistant="Disconnected",
                         llm="Unreachable", storage=Storage("Unknown"),
                         llm_problem="openai: APIConnectionError")
    assert [reason.split(":")[0] for reason in found.reasons()] == [
        "redis", "homeAssistant", "llm"]
    assert "(openai: APIConnectionError)" in found.reasons()[2]


def test_each_agent_declares_what_it_needs() -> None:
    registry = create_app(Settings())[REGISTRY]
    assert {agent_id: set(registry.requirements(agent_id)) for agent_id in registry.ids} == {
        "orchestrator": {LLM, REDIS},
        "light-agent": {HOME_ASSISTANT, REDIS},
        "climate-agent": {HOME_ASSISTANT, REDIS},
        "general-assistant": {LLM, REDIS},
    }
