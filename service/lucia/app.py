"""The application factory: wire settings to stores, models and agents, and give each
external resource its own cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from lucia import __version__, keys, middlewares
from lucia.agents.base import Agent
from lucia.agents.climate import ClimateAgent
from lucia.agents.general import GeneralAssistant
from lucia.agents.lights import LightAgent
from lucia.capacity import CapacityMonitor
from lucia.conversation import Conversation
from lucia.health import HealthChecker
from lucia.homeassistant import HomeAssistant
from lucia.llm import ChatModel, OpenAIEmbedder, make_chat_model, make_embedder
from lucia.matching import EntityMatcher
from lucia.metrics import Metrics
from lucia.orchestrator import Orchestrator
from lucia.registry import AgentRegistry
from lucia.routes import setup_routes
from lucia.settings import Settings
from lucia.store import Store, make_redis_client

CleanupContext = Callable[[web.Application], AsyncIterator[None]]

# Each context runs its start-up part when the app starts, and its shutdown part after
# in-flight requests have drained (in reverse order). aiohttp runs every shutdown part
# even when another fails, so one resource that fails to close does not leak the others.


def redis_pool(store: Store) -> CleanupContext:
    """Redis connects on first use, so a service started before Redis still starts (and
    says Unhealthy); at shutdown its connection pool is closed."""
    async def context(app: web.Application) -> AsyncIterator[None]:
        yield
        await store.close()
    return context


def llm_client(model: ChatModel | OpenAIEmbedder) -> CleanupContext:
    """A model's HTTP client (the openai SDK's connection pool)."""
    async def context(app: web.Application) -> AsyncIterator[None]:
        yield
        await model.aclose()
    return context


def home_assistant_session(home_assistant: HomeAssistant) -> CleanupContext:
    """Home Assistant's HTTP session, opened at start-up: it belongs to the running loop."""
    async def context(app: web.Application) -> AsyncIterator[None]:
        await home_assistant.open()
        yield
        await home_assistant.close()
    return context


def create_app(settings: Settings, *, chat_model: ChatModel | None = None) -> web.Application:
    """Build the app. Synchronous and side-effect free: connections open when it starts
    (or, for Redis, on first use)."""
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
    agents: list[Agent] = [LightAgent(home_assistant, matcher),
                           ClimateAgent(home_assistant, matcher), GeneralAssistant(model)]
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

    app.cleanup_ctx.append(redis_pool(store))
    app.cleanup_ctx.append(llm_client(model))
    if embedder is not None:
        app.cleanup_ctx.append(llm_client(embedder))
    if home_assistant.configured:
        app.cleanup_ctx.append(home_assistant_session(home_assistant))
    setup_routes(app)
    return app
