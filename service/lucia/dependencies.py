"""The services an agent needs to answer. Agents declare theirs; /health and
/api/agents/{agentId}/health derive each agent's status from them (lucia/health.py)."""

from __future__ import annotations

from enum import StrEnum


class Dependency(StrEnum):
    """A dependency, by the name /health reports it under in `services`."""

    REDIS = "redis"  # sessions and tasks: every turn is stored
    HOME_ASSISTANT = "homeAssistant"
    LLM = "llm"
