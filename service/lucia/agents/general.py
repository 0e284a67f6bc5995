"""general-assistant: conversation with the session's history, through the chat model."""

from __future__ import annotations

from lucia.agents.base import Skill, Turn
from lucia.dependencies import Dependency
from lucia.llm import ChatModel

SYSTEM_PROMPT = (
    "You are lucia, a friendly home assistant. Answer briefly. Other agents handle lights "
    "and climate; you handle everything else and remember what the user told you."
)

CLARIFY = ("I'm not sure what you'd like me to do. Could you say it another way? I can "
           "control lights, set the climate, or just talk.")


class GeneralAssistant:
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

    async def handle(self, turn: Turn) -> str:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, *turn.chat_messages()]
        reply = await self._model.complete(messages)
        return reply.strip() or CLARIFY
