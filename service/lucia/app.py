"""The application factory: wire settings to stores, models and agents."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from lucia import __version__, keys, middlewares
from lucia.agents.climate import ClimateAgent
from lucia.agents.general import GeneralAssistant
from lucia.agents.lights import LightAgent
from lucia.capacity import CapacityMonitor
from lucia.conversation import Conversation
from lucia.health import HealthChecker
from lucia.homeassistant import HomeAssistant
from lucia.llm import ChatModel, make_chat_model, make_embedder
from lucia.matching import EntityMatcher
from lucia.metrics import Metrics
from lucia.orchestrator import Orchestrator
from lucia.registry import AgentRegistry
from lucia.routes import setup_routes
from lucia.settings import Settings
from lucia.store import Store, make_redis_client


def create_app(settings: Settings, *, chat_model: ChatModel | None = None) -> web.Application:
    """Build the app. Synchronous and side-effect free: connections open lazily."""
    app = web.Application(
        middlewares=[middlewares.observe, middlewares.errors, middlewares.api_key],
        client_max_size=settings.max_body_bytes,
    )
    metrics = Metrics()
    store = Store(make_redis_client(settings), settings,
                  on_error=lambda op: metrics.redis_errors.labels(op).inc(),
                  on_full=lambda: capacity.note_full())
    capacity = CapacityMonitor(store, settings, metrics)
    home_assistant = HomeAssistant(settings, metrics)
    model = chat_model or make_chat_model(settings, metrics)
    embedder = make_embedder(settings, metrics)
    matcher = EntityMatcher(embedder, settings.embedding_match_threshold)
    agents = [LightAgent(home_assistant, matcher), ClimateAgent(home_assistant, matcher),
              GeneralAssistant(model)]
    orchestrator = Orchestrator(agents, model, metrics, settings.routing_confidence_threshold,
                                settings.agent_timeout_seconds)

    app[keys.SETTINGS] = settings
    app[keys.VERSION] = __version__
    app[keys.METRICS] = metrics
    app[keys.STORE] = store
    app[keys.HOME_ASSISTANT] = home_assistant
    app[keys.CHAT_MODEL] = model
    app[keys.REGISTRY] = AgentRegistry(agents, __version__)
    app[keys.CAPACITY] = capacity
    app[keys.CONVERSATION] = Conversation(store, orchestrator, settings.context_messages,
                                          capacity)
    app[keys.HEALTH] = HealthChecker(store, home_assistant, model, capacity,
                                     settings.health_cache_seconds)

    async def clients(app: web.Application) -> AsyncIterator[None]:
        yield
        # Runs after in-flight requests drained on shutdown.
        await home_assistant.close()
        for closable in (model, embedder):
            if hasattr(closable, "aclose"):
                await closable.aclose()
        await store.close()

    app.cleanup_ctx.append(clients)
    setup_routes(app)
    return app
