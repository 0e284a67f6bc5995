"""create_app builds without opening anything; starting the app opens Home Assistant's
session; each external resource has its own cleanup context, and shutdown closes every
one: the Redis pool, the chat model's and the embedder's HTTP clients, the session."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from lucia import keys
from lucia.app import (
    CleanupContext,
    create_app,
    home_assistant_session,
    llm_client,
    redis_pool,
)
from lucia.homeassistant import HomeAssistant
from lucia.llm import OpenAIChatModel, make_embedder
from lucia.metrics import Metrics
from lucia.settings import Settings
from lucia.store import Store, make_redis_client
from lucia_sims import homeassistant
from tests.support.redis_server import RedisServer
from tests.unit.conftest import sim_url


def lucia_connections(redis_server: RedisServer) -> int:
    """Connections Redis holds open for lucia (its clients name themselves "lucia")."""
    with redis_server.client() as admin:
        return sum(1 for client in admin.client_list() if client["name"] == "lucia")


async def test_shutdown_closes_every_resource(
        make_settings: Callable[..., Settings], redis_server: RedisServer,
        ha_sim: TestServer, llm_sim: TestServer,
        llm_connection: Callable[[str], str]) -> None:
    settings = make_settings(home_assistant_url=sim_url(ha_sim),
                             home_assistant_token=homeassistant.DEFAULT_TOKEN,
                             chat_model=llm_connection("openai"),
                             embeddings_model=llm_connection("openai"))
    app = create_app(settings)
    assert len(app.cleanup_ctx) == 4  # Redis, chat model, embedder, Home Assistant
    home_assistant, model = app[keys.HOME_ASSISTANT], app[keys.CHAT_MODEL]
    assert isinstance(model, OpenAIChatModel)
    client = TestClient(TestServer(app))
    await client.start_server()
    assert not home_assistant.closed, "Home Assistant's session opens when the app starts"
    assert (await client.post("/api/chat", json={"message": "dim the lounge lamp"})).status \
        == 200  # uses Redis, the model, the embedder and Home Assistant
    assert lucia_connections(redis_server) > 0
    assert not model.closed

    await client.close()

    assert home_assistant.closed
    assert model.closed
    assert lucia_connections(redis_server) == 0


async def test_create_app_opens_nothing(make_settings: Callable[..., Settings],
                                        redis_server: RedisServer) -> None:
    before = lucia_connections(redis_server)
    app = create_app(make_settings(home_assistant_url="http://127.0.0.1:9",
                                   home_assistant_token="t"))
    assert app[keys.HOME_ASSISTANT].closed
    assert lucia_connections(redis_server) == before


async def test_without_home_assistant_no_session_is_opened(
        make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())
    assert len(app.cleanup_ctx) == 2  # Redis and the (offline) chat model
    async with TestClient(TestServer(app)):
        assert app[keys.HOME_ASSISTANT].closed


async def run_context(context: CleanupContext) -> None:
    """Start-up part, then shutdown part, of one cleanup context."""
    steps = context(web.Application())
    await anext(steps)
    assert await anext(steps, None) is None


async def test_the_redis_context_closes_the_pool(make_settings: Callable[..., Settings],
                                                 redis_server: RedisServer) -> None:
    settings = make_settings()
    store = Store(make_redis_client(settings), settings)
    await store.ping()
    assert lucia_connections(redis_server) > 0
    await run_context(redis_pool(store))
    assert lucia_connections(redis_server) == 0


async def test_the_llm_context_closes_the_embedders_client(
        make_settings: Callable[..., Settings], llm_connection: Callable[[str], str]) -> None:
    embedder = make_embedder(make_settings(embeddings_model=llm_connection("ollama")),
                             Metrics())
    assert embedder is not None
    assert not embedder.closed
    await run_context(llm_client(embedder))
    assert embedder.closed


async def test_the_home_assistant_context_opens_then_closes_the_session(
        make_settings: Callable[..., Settings], ha_sim: TestServer) -> None:
    home_assistant = HomeAssistant(make_settings(home_assistant_url=sim_url(ha_sim),
                                                 home_assistant_token="t"), Metrics())
    steps = home_assistant_session(home_assistant)(web.Application())
    await anext(steps)
    assert not home_assistant.closed
    assert await anext(steps, None) is None
    assert home_assistant.closed
