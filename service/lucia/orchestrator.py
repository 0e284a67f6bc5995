"""Route a message to one or more agents and run them.

With a chat model, routing is one LLM call that returns
`{agentId, reasoning, confidence, additionalAgents?}` (one retry when the JSON is
malformed, then skill matching). With the offline model, the message's words are matched
against the agents' skill tags. Several agents run concurrently, each with a time limit;
their replies are joined in registry order, naming any agent that failed.

`stream` is the same turn with the reply in chunks as the agents produce them (routing
is not streamed): the joined chunks are the reply `run` would give.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field

from lucia.agents.base import Agent, Turn
from lucia.agents.general import CLARIFY
from lucia.errors import AgentTimeout, LlmTimeout, LlmUnavailable, LuciaError
from lucia.llm import ChatModel
from lucia.matching import words
from lucia.metrics import Metrics

GENERAL = "general-assistant"
ORCHESTRATOR = "orchestrator"

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    agent_id: str
    reasoning: str
    confidence: float
    additional_agents: tuple[str, ...] = ()
    method: str = "skills"  # skills | llm | fallback | clarify

    @property
    def agent_ids(self) -> list[str]:
        return [self.agent_id, *(a for a in self.additional_agents if a != self.agent_id)]


@dataclass(slots=True)
class TurnResult:
    response: str
    agent: str
    agents: list[str]
    failed: dict[str, str] = field(default_factory=dict)
    decision: RoutingDecision | None = None


class MalformedRouting(ValueError):
    pass


def parse_routing(text: str, known: set[str]) -> RoutingDecision:
    """Parse the model's routing JSON; raise MalformedRouting if it is not usable."""
    found = _JSON_OBJECT.search(text)
    if not found:
        raise MalformedRouting("no JSON object in the routing reply")
    try:
        data = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise MalformedRouting(f"routing reply is not JSON: {exc.msg}") from exc
    agent_id = data.get("agentId") if isinstance(data, dict) else None
    confidence = data.get("confidence") if isinstance(data, dict) else None
    if not isinstance(agent_id, str) or not isinstance(confidence, int | float):
        raise MalformedRouting("routing reply lacks agentId or a numeric confidence")
    additional = data.get("additionalAgents") or []
    if not isinstance(additional, list):
        raise MalformedRouting("additionalAgents must be a list")
    reasoning = str(data.get("reasoning", ""))
    if agent_id not in known:
        # An agent the model made up: the general assistant is the safe answer.
        return RoutingDecision(GENERAL, f"unknown agent {agent_id!r}; {reasoning}",
                               float(confidence), method="fallback")
    extra = tuple(a for a in additional if isinstance(a, str) and a in known and a != agent_id)
    return RoutingDecision(agent_id, reasoning, max(0.0, min(1.0, float(confidence))), extra,
                           method="llm")


class Orchestrator:
    def __init__(self, agents: list[Agent], model: ChatModel, metrics: Metrics,
                 confidence_threshold: float, agent_timeout: float) -> None:
        self.agents = {agent.id: agent for agent in agents}
        self._order = [agent.id for agent in agents]
        self._model = model
        self._metrics = metrics
        self._threshold = confidence_threshold
        self._timeout = agent_timeout
        self._keywords = {
            agent.id: {tag for skill in agent.skills for tag in skill.tags}
            for agent in agents if agent.id != GENERAL
        }

    def route_by_skills(self, message: str) -> RoutingDecision:
        said = set(words(message))
        scores = {aid: len(said & tags) for aid, tags in self._keywords.items()}
        matched = sorted((aid for aid, score in scores.items() if score),
                         key=lambda aid: (-scores[aid], self._order.index(aid)))
        if not matched:
            return RoutingDecision(GENERAL, "no agent skill matched the message", 1.0)
        return RoutingDecision(matched[0], f"matched skill tags of {', '.join(matched)}", 1.0,
                               tuple(matched[1:]))

    def _routing_prompt(self) -> str:
        lines = [
            "You route a user's message to the agents that should handle it.",
            'Reply with JSON only: {"agentId": str, "reasoning": str, "confidence": number '
            'between 0 and 1, "additionalAgents": [str]}. Put an agent in additionalAgents '
            "only when the message also asks for something that agent does.",
            "Agents:",
        ]
        for agent in self.agents.values():
            examples = "; ".join(e for s in agent.skills for e in s.examples)
            lines.append(f"- {agent.id}: {agent.description} Examples: {examples}")
        return "\n".join(lines)

    async def route(self, turn: Turn) -> RoutingDecision:
        if not self._model.can_route:
            decision = self.route_by_skills(turn.message)
        else:
            decision = await self._route_with_model(turn)
        if decision.confidence < self._threshold:
            decision = RoutingDecision(GENERAL, f"confidence {decision.confidence:.2f} below "
                                       f"{self._threshold:.2f}", decision.confidence,
                                       method="clarify")
        for agent_id in decision.agent_ids:
            self._metrics.routing_decisions.labels(agent_id, decision.method).inc()
        return decision

    async def _route_with_model(self, turn: Turn) -> RoutingDecision:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": self._routing_prompt()},
            {"role": "user", "content": turn.message},
        ]
        known = set(self.agents)
        for _attempt in range(2):
            reply = await self._model.complete(messages)
            try:
                return parse_routing(reply, known)
            except MalformedRouting as exc:
                messages += [
                    {"role": "assistant", "content": reply},
                    {"role": "user", "content": f"That was not valid routing JSON ({exc}). "
                                                "Reply with the JSON object only."},
                ]
        fallback = self.route_by_skills(turn.message)
        return RoutingDecision(fallback.agent_id, "routing JSON malformed twice; "
                               + fallback.reasoning, fallback.confidence,
                               fallback.additional_agents, method="fallback")

    async def _decide(self, turn: Turn, only: str | None) -> RoutingDecision:
        if only is not None and only != ORCHESTRATOR:
            return RoutingDecision(only, "addressed directly", 1.0, method="direct")
        return await self.route(turn)

    async def run(self, turn: Turn, only: str | None = None) -> TurnResult:
        """Answer a turn: route it (or send it straight to `only`) and run the agents."""
        decision = await self._decide(turn, only)
        if decision.method == "clarify":
            return TurnResult(CLARIFY, GENERAL, [GENERAL], decision=decision)
        chosen = sorted(decision.agent_ids, key=self._order.index)
        if len(chosen) == 1:
            # The common turn: one agent, awaited in place. A gather would wrap it in a
            # task of its own only to raise its error again (the profile's cost, not ours).
            reply = await self._run_one(chosen[0], turn)
            return TurnResult(reply, chosen[0], chosen, {}, decision)
        outcomes = await asyncio.gather(*(self._run_one(aid, turn) for aid in chosen),
                                        return_exceptions=True)
        replies: list[tuple[str, str]] = []
        failed: dict[str, str] = {}
        errors: list[BaseException] = []
        for agent_id, outcome in zip(chosen, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                errors.append(outcome)
                failed[agent_id] = _failure_reason(outcome)
            else:
                replies.append((agent_id, outcome))
        if not replies:
            # Nothing to say: surface the dependency error so the caller gets 502/503/504.
            for error in errors:
                if isinstance(error, LuciaError):
                    raise error
            raise errors[0]
        if len(chosen) == 1:
            response = replies[0][1]
        else:
            response = "\n".join(text for _, text in replies)
            for agent_id, reason in failed.items():
                response += f"\n({self.agents[agent_id].name} could not answer: {reason}.)"
        primary = decision.agent_id if decision.agent_id not in failed else replies[0][0]
        return TurnResult(response, primary, chosen, failed, decision)

    async def _run_one(self, agent_id: str, turn: Turn) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                return await self.agents[agent_id].handle(turn)
        except TimeoutError as exc:
            raise AgentTimeout(f"{agent_id} did not answer within {self._timeout:g} s") from exc

    async def stream(self, turn: Turn,
                     only: str | None = None) -> AsyncGenerator[str | TurnResult, None]:
        """`run`, with the reply streamed: text chunks as the agents produce them, then the
        TurnResult (whose response is the chunks joined).

        A failure before the first chunk raises, as `run` does, so nothing has been said
        yet. With several agents, each runs at once and the replies go out in registry
        order, the next agent's chunks as soon as the one before has finished; an agent
        that fails before its first chunk is named at the end, as `run` names it, but one
        that breaks off mid-reply breaks the turn: what was sent cannot be taken back."""
        decision = await self._decide(turn, only)
        if decision.method == "clarify":
            yield CLARIFY
            yield TurnResult(CLARIFY, GENERAL, [GENERAL], decision=decision)
            return
        chosen = sorted(decision.agent_ids, key=self._order.index)
        sent: list[str] = []
        if len(chosen) == 1:
            async with aclosing(self._stream_one(chosen[0], turn)) as chunks:
                async for chunk in chunks:
                    sent.append(chunk)
                    yield chunk
            yield TurnResult("".join(sent), chosen[0], chosen, decision=decision)
            return
        replies: list[str] = []
        failed: dict[str, str] = {}
        errors: list[BaseException] = []
        queues = {agent_id: asyncio.Queue[str | _Finished]() for agent_id in chosen}
        pumps = [asyncio.create_task(self._pump(agent_id, turn, queues[agent_id]))
                 for agent_id in chosen]
        try:
            for agent_id in chosen:
                parts: list[str] = []
                while not isinstance(item := await queues[agent_id].get(), _Finished):
                    if not parts and replies:
                        item = "\n" + item  # the join of `run`, sent with the next reply
                    parts.append(item)
                    sent.append(item)
                    yield item
                if item.error is None:
                    if not parts and replies:
                        sent.append("\n")
                        yield "\n"
                    replies.append(agent_id)
                elif parts:
                    raise item.error
                else:
                    errors.append(item.error)
                    failed[agent_id] = _failure_reason(item.error)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        if not replies:
            for error in errors:
                if isinstance(error, LuciaError):
                    raise error
            raise errors[0]
        notes = "".join(f"\n({self.agents[agent_id].name} could not answer: {reason}.)"
                        for agent_id, reason in failed.items())
        if notes:
            sent.append(notes)
            yield notes
        primary = decision.agent_id if decision.agent_id not in failed else replies[0]
        yield TurnResult("".join(sent), primary, chosen, failed, decision)

    async def _pump(self, agent_id: str, turn: Turn,
                    queue: asyncio.Queue[str | _Finished]) -> None:
        """Run one agent of several, its chunks into `queue`, then how it finished."""
        try:
            async with aclosing(self._stream_one(agent_id, turn)) as chunks:
                async for chunk in chunks:
                    queue.put_nowait(chunk)
        except Exception as exc:  # reported like `run` reports it, by the reader
            queue.put_nowait(_Finished(exc))
        else:
            queue.put_nowait(_Finished(None))

    async def _stream_one(self, agent_id: str, turn: Turn) -> AsyncGenerator[str, None]:
        """One agent's chunks, all of them within the agent time limit (applied to each
        wait, never across a yield)."""
        deadline = asyncio.get_running_loop().time() + self._timeout
        chunks = self.agents[agent_id].stream(turn)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    raise AgentTimeout(f"{agent_id} did not answer within "
                                       f"{self._timeout:g} s") from exc
                yield chunk
        finally:
            await chunks.aclose()


@dataclass(frozen=True, slots=True)
class _Finished:
    """An agent's stream has ended: cleanly (error None) or with `error`."""

    error: Exception | None


def _failure_reason(error: BaseException) -> str:
    if isinstance(error, AgentTimeout | LlmTimeout):
        return "it timed out"
    if isinstance(error, LlmUnavailable):
        return "the language model is unavailable"
    if isinstance(error, LuciaError):
        return error.message
    return "an internal error"

