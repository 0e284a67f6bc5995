"""Home Assistant's REST API: `GET /api/states`, `POST /api/services/{domain}/{service}`."""

from __future__ import annotations

from typing import Any

import aiohttp

from lucia.errors import HomeAssistantNotConfigured, HomeAssistantUnavailable
from lucia.metrics import Metrics
from lucia.settings import Settings


class HomeAssistant:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._base = settings.home_assistant_url
        token = settings.home_assistant_token
        self._headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=settings.home_assistant_timeout_seconds)
        # True: verify with the default context; False: do not verify.
        self._ssl = settings.home_assistant_verify_ssl
        self._metrics = metrics
        self._session: aiohttp.ClientSession | None = None

    @property
    def configured(self) -> bool:
        return bool(self._base)

    async def open(self) -> None:
        """Open the HTTP session. The app's cleanup context calls this at start-up: a
        ClientSession belongs to the running event loop, so it cannot open in create_app."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Home Assistant's session is not open: the app opens it at "
                               "start-up (lucia/app.py)")
        return self._session

    async def _request(self, operation: str, method: str, path: str,
                       json: dict[str, Any] | None = None) -> Any:
        if not self.configured:
            raise HomeAssistantNotConfigured("Home Assistant is not configured")
        try:
            async with self._client().request(method, f"{self._base}{path}", json=json,
                                              ssl=self._ssl) as response:
                if response.status in (401, 403):
                    raise HomeAssistantUnavailable(
                        "Home Assistant rejected the access token "
                        f"(HTTP {response.status})")
                if response.status >= 400:
                    raise HomeAssistantUnavailable(
                        f"Home Assistant answered HTTP {response.status} to {path}")
                return await response.json(content_type=None)
        except HomeAssistantUnavailable:
            self._metrics.home_assistant_errors.labels(operation).inc()
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._metrics.home_assistant_errors.labels(operation).inc()
            raise HomeAssistantUnavailable(
                f"Home Assistant is unreachable ({type(exc).__name__})") from exc

    async def ping(self) -> None:
        await self._request("ping", "GET", "/api/")

    async def states(self) -> list[dict[str, Any]]:
        result = await self._request("states", "GET", "/api/states")
        return result if isinstance(result, list) else []

    async def call_service(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        return await self._request("call_service", "POST", f"/api/services/{domain}/{service}",
                                   json=data)
