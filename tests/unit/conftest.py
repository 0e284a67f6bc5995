"""Fixtures: a real redis-server, the simulators mounted in-process, app clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from lucia.app import create_app
from lucia.settings import Settings
from lucia_sims import homeassistant, openai_compatible
from tests.support.redis_server import RedisServer

MakeClient = Callable[..., Awaitable[TestClient]]
RedisKeys = Callable[[], list[str]]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL for a database this test starts empty, at the stacks' maxmemory."""
    with redis_server.client() as client:
        client.flushall()
        client.config_set("maxmemory", RedisServer.MAXMEMORY)
    return redis_server.url


@pytest.fixture
def redis_keys(redis_server: RedisServer) -> RedisKeys:
    def keys() -> list[str]:
        with redis_server.client() as client:
            return sorted(client.keys("*"))
    return keys


@pytest.fixture
async def ha_sim(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> TestServer:
    return await aiohttp_server(homeassistant.make_app())


@pytest.fixture
async def llm_sim(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> TestServer:
    return await aiohttp_server(openai_compatible.make_app())


def sim_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def make_settings(redis_url: str) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"redis_url": redis_url, "llm_timeout_seconds": 2.0,
                                     "llm_max_retries": 0}
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]  # field names, populate_by_name
    return make


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[TestClient]],
                make_settings: Callable[..., Settings]) -> MakeClient:
    async def make(**overrides: object) -> TestClient:
        return await aiohttp_client(create_app(make_settings(**overrides)))
    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient:
    """The service as it starts out of the box: offline model, no Home Assistant."""
    return await make_client()


@pytest.fixture
async def ha_client(make_client: MakeClient, ha_sim: TestServer) -> TestClient:
    """Offline model, with the Home Assistant simulator."""
    return await make_client(home_assistant_url=sim_url(ha_sim),
                             home_assistant_token=homeassistant.DEFAULT_TOKEN)


@pytest.fixture
def llm_connection(llm_sim: TestServer) -> Callable[[str], str]:
    """Connection string for the LLM simulator with a given provider."""
    def connection(provider: str = "openai") -> str:
        base = sim_url(llm_sim)
        endpoint = {"openai": f"{base}/v1", "ollama": base, "azureopenai": base,
                    "azureaiinference": f"{base}/models"}[provider]
        return f"Endpoint={endpoint};AccessKey=sim-key;Model=sim-model;Provider={provider}"
    return connection

