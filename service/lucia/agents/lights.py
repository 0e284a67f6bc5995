"""light-agent: find lights by name or area; on, off, brightness, state."""

from __future__ import annotations

import re

from lucia.agents.base import Skill, Turn
from lucia.agents.device import DeviceAgent
from lucia.matching import Entity

_BRIGHTNESS = re.compile(r"\b(\d{1,3})\s*(%|percent\b)")
_OFF = re.compile(r"\b(turn|switch|shut)\s+(\w+\s+){0,4}?off\b|\boff\b", re.IGNORECASE)
_ON = re.compile(r"\b(turn|switch)\s+(\w+\s+){0,4}?on\b|\bon\b", re.IGNORECASE)
_QUESTION = re.compile(r"\b(is|are|state|status|which|what)\b", re.IGNORECASE)



def _names(entities: list[Entity]) -> str:
    return ", ".join(entity.name for entity in entities)


def describe(entity: Entity) -> str:
    if entity.state != "on":
        return f"{entity.name} is {entity.state}"
    raw = entity.attributes.get("brightness")
    if isinstance(raw, int | float):
        return f"{entity.name} is on at {round(raw / 255 * 100)}% brightness"
    return f"{entity.name} is on"


class LightAgent(DeviceAgent):
    id = "light-agent"
    domain = "light"
    things = "any lights"
    name = "Light Agent"
    description = "Controls Home Assistant lights: on, off, brightness and state, by name or area."
    skills: tuple[Skill, ...] = (
        Skill("light-control", "Light control",
              "Turn lights on or off and set their brightness by name or area.",
              ("light", "lights", "lamp", "lamps", "bulb", "brightness", "dim"),
              ("Turn on the kitchen light", "Set the living room lamp to 40%",
               "Switch off all lights")),
        Skill("light-state", "Light state", "Report whether lights are on and how bright.",
              ("light", "lights", "lamp"), ("Is the bedroom light on?",)),
    )

    async def act(self, turn: Turn) -> str:
        message = turn.message
        lights = await self.entities()
        if not lights:
            return "Home Assistant has no lights I can see."
        targets = await self._matcher.match(message, lights)
        if not targets:
            return f"I couldn't find a light matching that. The lights I know: {_names(lights)}."
        ids = [entity.entity_id for entity in targets]
        if brightness := _BRIGHTNESS.search(message):
            percent = max(0, min(100, int(brightness.group(1))))
            await self.call(turn, "turn_on", {"entity_id": ids, "brightness_pct": percent})
            return f"Set {_names(targets)} to {percent}% brightness."
        if _OFF.search(message):
            await self.call(turn, "turn_off", {"entity_id": ids})
            return f"Turned off {_names(targets)}."
        if _ON.search(message) and not _QUESTION.match(message.strip()):
            await self.call(turn, "turn_on", {"entity_id": ids})
            return f"Turned on {_names(targets)}."
        return "; ".join(describe(entity) for entity in targets) + "."
