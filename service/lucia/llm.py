"""Chat and embedding models behind one small interface.

Every real provider goes through the `openai` SDK: OpenAI itself, Azure OpenAI
(`AsyncAzureOpenAI`), Ollama (its OpenAI-compatible `/v1`), and Azure AI Inference
(OpenAI-compatible with an `api-key` header and `api-version` query). The `offline`
provider is embedded and deterministic, so the service works with no model at all.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, cast

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from lucia.connection_string import ModelConnection, Provider
from lucia.errors import LlmTimeout, LlmUnavailable
from lucia.metrics import Metrics
from lucia.settings import Settings

AZURE_OPENAI_API_VERSION = "2024-10-21"
AZURE_AI_INFERENCE_API_VERSION = "2024-05-01-preview"

Message = dict[str, str]


class ChatModel(Protocol):
    provider: str
    # True when the model can be asked for routing JSON; the offline model cannot.
    can_route: bool

    async def complete(self, messages: list[Message]) -> str: ...

    def stream(self, messages: list[Message]) -> AsyncGenerator[str, None]:
        """The answer's text as the model produces it, in chunks (their concatenation is
        what `complete` would answer). Errors are the domain's, before or between chunks."""
        ...

    async def probe(self) -> None:
        """Raise LlmUnavailable unless the model's endpoint answers (callers bound the
        wait with asyncio.timeout)."""

    async def aclose(self) -> None:
        """Release the model's connections (at shutdown)."""


class Embedder(Protocol):
    async def embed(self, texts: list[str]) -> list[list[float]]: ...


# The SDK's connection pool, with every connection it may open (its default 1,000) kept
# alive between calls instead of its default 100. A worker holding more streams than that
# (the dev stack's LLM-shaped load: 150 per worker) otherwise closed the extra connections
# after each answer and opened them again for the next: a name lookup in a thread, a TCP
# handshake and the pool's bookkeeping on every such turn. Idle connections still close
# after the SDK's keep-alive expiry (5 s). The requests themselves are unchanged.
POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)


def make_openai_client(conn: ModelConnection, settings: Settings) -> openai.AsyncOpenAI:
    common: dict[str, Any] = {
        "timeout": settings.llm_timeout_seconds,
        "max_retries": settings.llm_max_retries,
        "http_client": openai.DefaultAsyncHttpxClient(limits=POOL_LIMITS),
    }
    match conn.provider:
        case Provider.OPENAI:
            return openai.AsyncOpenAI(api_key=conn.access_key, base_url=conn.endpoint, **common)
        case Provider.AZURE_OPENAI:
            return openai.AsyncAzureOpenAI(
                azure_endpoint=conn.endpoint,
                api_key=conn.access_key,
                api_version=conn.api_version or AZURE_OPENAI_API_VERSION,
                **common,
            )
        case Provider.OLLAMA:
            base = conn.endpoint.rstrip("/")
            if not base.endswith("/v1"):
                base += "/v1"
            # Ollama ignores the key, but the SDK insists on one.
            return openai.AsyncOpenAI(api_key=conn.access_key or "ollama", base_url=base,
                                      **common)
        case Provider.AZURE_AI_INFERENCE:
            return openai.AsyncOpenAI(
                api_key=conn.access_key,
                base_url=conn.endpoint,
                default_headers={"api-key": conn.access_key},
                default_query={"api-version": conn.api_version or AZURE_AI_INFERENCE_API_VERSION},
                **common,
            )
    raise ValueError(f"provider {conn.provider.value} has no OpenAI-compatible client")


# The probe's request per provider: the cheapest GET each documents, no tokens spent.
# Azure AI Inference lists no models; its `GET /info` describes the deployed one.
_PROBE_PATH = {Provider.AZURE_AI_INFERENCE: "/info"}
# Credentials refused: every chat call would fail too (as would any 5xx).
_PROBE_FAILS = frozenset({401, 403})


class _Instrumented:
    """Times each call and turns SDK errors into domain errors."""

    def __init__(self, conn: ModelConnection, client: openai.AsyncOpenAI, metrics: Metrics,
                 deadline: float) -> None:
        self.provider = conn.provider.value
        self._probe_path = _PROBE_PATH.get(conn.provider)
        self._model = conn.model
        self._client = client
        self._metrics = metrics
        self._deadline = deadline

    @contextmanager
    def _domain_errors(self, operation: str, streaming: bool = False) -> Iterator[None]:
        """SDK errors (and our own deadline) as the domain's, counted by kind."""
        try:
            yield
        except (openai.APITimeoutError, TimeoutError) as exc:
            self._metrics.llm_errors.labels(self.provider, operation, "timeout").inc()
            raise LlmTimeout(f"the {self.provider} model did not answer in time") from exc
        except openai.APIStatusError as exc:
            self._metrics.llm_errors.labels(self.provider, operation, "unavailable").inc()
            raise LlmUnavailable(
                f"the {self.provider} model answered HTTP {exc.status_code}") from exc
        except openai.APIError as exc:
            self._metrics.llm_errors.labels(self.provider, operation, "unavailable").inc()
            if streaming and not isinstance(exc, openai.APIConnectionError):
                # The error event a provider sends mid-stream (`data: {"error": ...}`):
                # the model failed, it was not unreachable.
                raise LlmUnavailable(f"the {self.provider} model broke off its answer: "
                                     f"{exc.message}") from exc
            raise LlmUnavailable(
                f"the {self.provider} model is unreachable ({type(exc).__name__})") from exc
        except openai.OpenAIError as exc:
            self._metrics.llm_errors.labels(self.provider, operation, "unavailable").inc()
            raise LlmUnavailable(
                f"the {self.provider} model is unreachable ({type(exc).__name__})") from exc

    async def _call(self, operation: str, coro: Any) -> Any:
        started = time.perf_counter()
        try:
            with self._domain_errors(operation):
                async with asyncio.timeout(self._deadline):
                    return await coro
        finally:
            self._metrics.llm_latency.labels(self.provider, operation).observe(
                time.perf_counter() - started)

    async def probe(self) -> None:
        """Is the endpoint there, and does it take our key? One GET (`models.list()`,
        which every OpenAI-compatible provider serves, or `_PROBE_PATH`), not retried.

        Connection errors, timeouts, 401/403 and 5xx fail the probe, as they would fail a
        chat turn. Any other answer (a 404 or 405, say) still proves the server is there:
        some compatible servers list no models, and their chat calls work."""
        client = self._client.with_options(max_retries=0)  # a retry would outlast /health
        try:
            if self._probe_path is None:
                await client.models.list()
            else:
                await client.get(self._probe_path, cast_to=object)
        except openai.APIStatusError as exc:
            if exc.status_code in _PROBE_FAILS or exc.status_code >= 500:
                raise LlmUnavailable(f"{self.provider} answered HTTP {exc.status_code}") \
                    from exc
        except openai.OpenAIError as exc:  # connection refused, DNS, TLS, timeout
            raise LlmUnavailable(f"{self.provider}: {type(exc).__name__}") from exc

    @property
    def closed(self) -> bool:
        return self._client.is_closed()

    async def aclose(self) -> None:
        await self._client.close()


class OpenAIChatModel(_Instrumented):
    can_route = True

    async def complete(self, messages: list[Message]) -> str:
        response = await self._call(
            "chat",
            self._client.chat.completions.create(model=self._model, messages=messages),  # type: ignore[arg-type]  # plain role/content dicts are valid messages
        )
        if not response.choices:
            self._metrics.llm_errors.labels(self.provider, "chat", "unavailable").inc()
            raise LlmUnavailable(f"the {self.provider} model returned no choices")
        return response.choices[0].message.content or ""

    async def stream(self, messages: list[Message]) -> AsyncGenerator[str, None]:
        """The SDK's streaming (`stream=True`): each chunk's `delta.content` as it arrives.

        One deadline covers the whole answer, as it covers `complete`; it is applied to each
        wait, never across a `yield`, so the time the caller spends on a chunk is its own
        (a timeout scope spanning a yield would cancel the caller). A stream the server
        breaks (OpenAI's `data: {"error": ...}`, a dropped connection) is LlmUnavailable."""
        operation = "chat_stream"
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + self._deadline
        first = True
        try:
            with self._domain_errors(operation, streaming=True):
                async with asyncio.timeout_at(deadline):
                    chunks = await self._client.chat.completions.create(
                        model=self._model, stream=True,
                        # Plain role/content dicts are valid messages; the SDK's TypedDicts
                        # cannot see that a str role is one of their literals.
                        messages=cast("list[ChatCompletionMessageParam]", messages))
            async with chunks:  # closes the HTTP response however the caller stops
                while True:
                    with self._domain_errors(operation, streaming=True):
                        async with asyncio.timeout_at(deadline):
                            try:
                                chunk = await anext(chunks)
                            except StopAsyncIteration:
                                return
                    text = chunk.choices[0].delta.content if chunk.choices else None
                    if text:
                        if first:
                            first = False
                            self._metrics.llm_time_to_first_token.labels(
                                self.provider).observe(time.perf_counter() - started)
                        yield text
        finally:
            self._metrics.llm_latency.labels(self.provider, operation).observe(
                time.perf_counter() - started)


class OpenAIEmbedder(_Instrumented):
    async def embed(self, texts: list[str]) -> list[list[float]]:
        response = await self._call(
            "embeddings", self._client.embeddings.create(model=self._model, input=texts))
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]


_NAME_STATEMENT = re.compile(r"\bmy name is\s+([A-Za-z][\w'-]{0,40})", re.IGNORECASE)
_NAME_QUESTION = re.compile(r"\b(what(?:'s| is) my name|who am i)\b", re.IGNORECASE)
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b", re.IGNORECASE)
_HELP = re.compile(r"\b(help|what can you do)\b", re.IGNORECASE)


class OfflineChatModel:
    """Deterministic replies from the conversation itself; no network, no weights.

    It remembers what the user said their name is, answers greetings and help, and
    otherwise says plainly that free conversation needs a configured model."""

    provider = Provider.OFFLINE.value
    can_route = False

    async def probe(self) -> None:
        """Embedded: always there."""

    async def aclose(self) -> None:
        """Nothing to release."""

    async def stream(self, messages: list[Message]) -> AsyncGenerator[str, None]:
        """Embedded and immediate: the whole reply as one chunk."""
        yield await self.complete(messages)

    async def complete(self, messages: list[Message]) -> str:
        user_turns = [m["content"] for m in messages if m.get("role") == "user"]
        latest = user_turns[-1] if user_turns else ""
        if stated := _NAME_STATEMENT.search(latest):
            return f"Nice to meet you, {stated.group(1)}. I'll remember that."
        if _NAME_QUESTION.search(latest):
            for earlier in reversed(user_turns[:-1]):
                if stated := _NAME_STATEMENT.search(earlier):
                    return f"Your name is {stated.group(1)}."
            return "You haven't told me your name yet."
        if _GREETING.search(latest):
            return "Hello! I'm lucia. I can switch lights, set the climate and keep you company."
        if _HELP.search(latest):
            return ("I can turn lights on or off, set their brightness, report their state, "
                    "set the thermostat's temperature or mode, and remember this conversation.")
        return ("I'm running with the offline model, so I can control lights and climate but "
                "can't hold a free conversation. Configure ConnectionStrings__chat-model for that.")


def _deadline(settings: Settings) -> float:
    """One bound over a call and its SDK retries."""
    return settings.llm_timeout_seconds * (settings.llm_max_retries + 1) + 1


def make_chat_model(settings: Settings, metrics: Metrics) -> ChatModel:
    conn = settings.chat_model
    if conn.is_offline:
        return OfflineChatModel()
    return OpenAIChatModel(conn, make_openai_client(conn, settings), metrics,
                           _deadline(settings))


def make_embedder(settings: Settings, metrics: Metrics) -> OpenAIEmbedder | None:
    conn = settings.embeddings_model
    if conn is None:
        return None
    return OpenAIEmbedder(conn, make_openai_client(conn, settings), metrics,
                          _deadline(settings))
