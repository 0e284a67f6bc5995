"""Routing JSON parsing and skill routing, without HTTP."""

from __future__ import annotations

import pytest

from lucia.orchestrator import GENERAL, MalformedRouting, parse_routing

KNOWN = {"light-agent", "climate-agent", GENERAL}


def test_parse_routing_accepts_fenced_json_and_clamps_confidence() -> None:
    decision = parse_routing('```json\n{"agentId": "light-agent", "confidence": 1.7, '
                             '"reasoning": "lamp", "additionalAgents": ["climate-agent", '
                             '"toaster"]}\n```', KNOWN)
    assert decision.agent_id == "light-agent"
    assert decision.confidence == 1.0
    assert decision.additional_agents == ("climate-agent",)
    assert decision.method == "llm"


@pytest.mark.parametrize("text", [
    "lights, I think", '{"agentId": "light-agent"}', '{"confidence": 0.9}',
    '{"agentId": "light-agent", "confidence": "high"}',
    '{"agentId": "light-agent", "confidence": 0.9, "additionalAgents": "climate-agent"}',
    '{"agentId": "light-agent", "confidence": 0.9,,}',
])
def test_parse_routing_rejects_malformed_replies(text: str) -> None:
    with pytest.raises(MalformedRouting):
        parse_routing(text, KNOWN)


def test_parse_routing_sends_unknown_agents_to_general() -> None:
    decision = parse_routing('{"agentId": "toaster", "confidence": 0.9}', KNOWN)
    assert decision.agent_id == GENERAL
    assert decision.method == "fallback"
