"""general-assistant: conversation with the session's history, through the chat model."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from lucia.agents.base import Agent, Skill, Turn
from lucia.dependencies import Dependency
from lucia.llm import ChatModel

SYSTEM_PROMPT = (
    "You are lucia, a friendly home assistant. Answer briefly. Other agents handle lights "
    "and climate; you handle everything else and remember what the user told you."
)

CLARIFY = ("I'm not sure what you'd like me to do. Could you say it another way? I can "
           "control lights, set the climate, or just talk.")


class GeneralAssistant(Agent):
    id = "general-assistant"
    name = "General Assistant"
    description = "Answers general questions and keeps the conversation, using the chat model."
    skills: tuple[Skill, ...] = (
        Skill("conversation", "Conversation",
              "General questions and small talk, remembering earlier turns.",
              ("chat", "question", "help", "name", "hello"),
              ("Hello!", "My name is Alice", "What is my name?")),
    )
    requires: tuple[Dependency, ...] = (Dependency.LLM, Dependency.REDIS)

    def __init__(self, model: ChatModel) -> None:
        self._model = model

    def _messages(self, turn: Turn) -> list[dict[str, str]]:
        return [{"role": "system", "content": SYSTEM_PROMPT}, *turn.chat_messages()]

    async def handle(self, turn: Turn) -> str:
        reply = await self._model.complete(self._messages(turn))
        return reply.strip() or CLARIFY

    async def stream(self, turn: Turn) -> AsyncGenerator[str, None]:
        """The model's answer token by token, trimmed as `handle` trims it."""
        said = False
        async for chunk in stripped(self._model.stream(self._messages(turn))):
            said = True
            yield chunk
        if not said:
            yield CLARIFY


async def stripped(chunks: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """`chunks` without the whitespace the whole text starts and ends with: what they
    join to is `"".join(chunks).strip()`. Whitespace that may turn out to be the end is
    held back until text follows it."""
    started = False
    held = ""
    async for chunk in chunks:
        if not started:
            chunk = chunk.lstrip()
            if not chunk:
                continue
            started = True
        text = chunk.rstrip()
        if text:
            yield held + text
            held = chunk[len(text):]
        else:
            held += chunk
