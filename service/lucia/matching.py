"""Find the Home Assistant entities a message talks about.

Names are matched lexically first (the words of an entity's name or area appear in the
message). When nothing matches and an embeddings model is configured, the message's
remaining words are compared with each entity name by cosine similarity, so "the lounge
lamp" can find "Living Room Lamp". If the embeddings model fails, lexical matching is all
there is, and the turn still answers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from lucia.errors import LlmTimeout, LlmUnavailable
from lucia.llm import Embedder

_WORD = re.compile(r"[a-z0-9]+")
# Words that say what kind of thing or action, not which one.
# A word list reads better as one string than as 42 quoted items.
GENERIC_WORDS = frozenset(
    "light lights lamp lamps bulb thermostat climate heating heater ac the a an in on off of "  # noqa: SIM905
    "to turn switch set please my and at is what whats state status brightness percent dim "
    "bright temperature degrees mode it its all every room".split()
)
_ALL = re.compile(r"\b(all|every)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Entity:
    entity_id: str
    name: str
    state: str
    attributes: dict[str, Any]

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Entity:
        attributes = state.get("attributes") or {}
        name = attributes.get("friendly_name") or state["entity_id"].split(".", 1)[-1]
        return cls(state["entity_id"], str(name), str(state.get("state", "unknown")), attributes)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("_", " "))


def distinctive_words(text: str) -> set[str]:
    return {word for word in words(text) if word not in GENERIC_WORDS and not word.isdigit()}


def lexical_matches(message: str, entities: list[Entity]) -> list[Entity]:
    said = distinctive_words(message)
    scored = []
    for entity in entities:
        name_words = distinctive_words(f"{entity.name} {entity.attributes.get('area', '')}")
        overlap = len(said & name_words)
        if overlap:
            scored.append((overlap, entity))
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [entity for score, entity in scored if score == best]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class EntityMatcher:
    def __init__(self, embedder: Embedder | None, threshold: float) -> None:
        self._embedder = embedder
        self._threshold = threshold
        # Entity names rarely change; embedding them once per name saves a call per turn.
        self._name_vectors: dict[str, list[float]] = {}

    @property
    def semantic(self) -> bool:
        return self._embedder is not None

    async def match(self, message: str, entities: list[Entity]) -> list[Entity]:
        if _ALL.search(message):
            return entities
        found = lexical_matches(message, entities)
        if found or self._embedder is None or not entities:
            return found
        phrase = " ".join(sorted(distinctive_words(message)))
        if not phrase:
            return []
        try:
            return await self._semantic(phrase, entities)
        except (LlmUnavailable, LlmTimeout):
            return []

    async def _semantic(self, phrase: str, entities: list[Entity]) -> list[Entity]:
        assert self._embedder is not None
        missing = [e.name for e in entities if e.name not in self._name_vectors]
        texts = [phrase, *missing]
        vectors = await self._embedder.embed(texts)
        for name, vector in zip(missing, vectors[1:], strict=True):
            self._name_vectors[name] = vector
        query = vectors[0]
        scored = [(cosine(query, self._name_vectors[e.name]), e) for e in entities]
        best_score, best = max(scored, key=lambda pair: pair[0])
        return [best] if best_score >= self._threshold else []
