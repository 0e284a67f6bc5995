"""Typed application keys, all in one place."""

from __future__ import annotations

from aiohttp import web

from lucia.capacity import CapacityMonitor
from lucia.conversation import Conversation
from lucia.health import HealthChecker
from lucia.homeassistant import HomeAssistant
from lucia.llm import ChatModel
from lucia.metrics import Metrics
from lucia.registry import AgentRegistry
from lucia.settings import Settings
from lucia.store import Store

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
HOME_ASSISTANT = web.AppKey("home_assistant", HomeAssistant)
CHAT_MODEL = web.AppKey("chat_model", ChatModel)
REGISTRY = web.AppKey("registry", AgentRegistry)
CONVERSATION = web.AppKey("conversation", Conversation)
VERSION = web.AppKey("version", str)
HEALTH = web.AppKey("health", HealthChecker)
CAPACITY = web.AppKey("capacity", CapacityMonitor)
