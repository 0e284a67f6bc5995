"""climate-agent: target temperature, HVAC mode and state of thermostats."""

from __future__ import annotations

import re

from lucia.agents.base import Skill, Turn
from lucia.agents.device import DeviceAgent
from lucia.matching import Entity

_TEMPERATURE = re.compile(r"\b(\d{1,2}(?:\.\d)?)\s*(?:°|degrees?\b|c\b)?", re.IGNORECASE)
_SET = re.compile(r"\b(set|make|change|put|to)\b", re.IGNORECASE)
_TURN_OFF = re.compile(r"\bturn\b.*\boff\b", re.IGNORECASE)
_MODES = {
    "heat_cool": re.compile(r"\b(heat[ _]cool|auto)\b", re.IGNORECASE),
    "heat": re.compile(r"\b(heat|heating)\b(?!\s*cool)", re.IGNORECASE),
    "cool": re.compile(r"\b(cool|cooling|air ?con(ditioning)?)\b", re.IGNORECASE),
    "off": re.compile(r"\b(off)\b", re.IGNORECASE),
}



def describe(entity: Entity) -> str:
    current = entity.attributes.get("current_temperature")
    target = entity.attributes.get("temperature")
    parts = [f"{entity.name} is in {entity.state} mode"]
    if current is not None:
        parts.append(f"it is {current}° now")
    if target is not None:
        parts.append(f"the target is {target}°")
    return ", ".join(parts)


class ClimateAgent(DeviceAgent):
    id = "climate-agent"
    domain = "climate"
    things = "the climate"
    name = "Climate Agent"
    description = "Controls Home Assistant thermostats: target temperature, HVAC mode, state."
    skills: tuple[Skill, ...] = (
        Skill("climate-control", "Climate control",
              "Set a thermostat's target temperature or HVAC mode (heat, cool, auto, off).",
              ("temperature", "thermostat", "heating", "cooling", "hvac", "climate", "warmer",
               "colder", "degrees", "heat", "cool"),
              ("Set the temperature to 21 degrees", "Switch the thermostat to heat mode")),
        Skill("climate-state", "Climate state", "Report the current and target temperature.",
              ("temperature", "thermostat", "climate"), ("What's the temperature inside?",)),
    )

    async def act(self, turn: Turn) -> str:
        message = turn.message
        thermostats = await self.entities()
        if not thermostats:
            return "Home Assistant has no thermostats I can see."
        targets = await self._matcher.match(message, thermostats) or thermostats
        ids = [entity.entity_id for entity in targets]
        names = ", ".join(entity.name for entity in targets)
        temperature = _TEMPERATURE.search(message)
        if temperature and _SET.search(message):
            value = float(temperature.group(1))
            if not 5 <= value <= 35:
                return f"{value:g}° is outside the range I'll set (5° to 35°)."
            await self.call(turn, "set_temperature", {"entity_id": ids, "temperature": value})
            return f"Set {names} to {value:g}°."
        for mode, pattern in _MODES.items():
            asked = bool(pattern.search(message) and _SET.search(message))
            if asked or (mode == "off" and _TURN_OFF.search(message)):
                await self.call(turn, "set_hvac_mode", {"entity_id": ids, "hvac_mode": mode})
                return f"Switched {names} to {mode.replace('_', '/')} mode."
        return "; ".join(describe(entity) for entity in targets) + "."
