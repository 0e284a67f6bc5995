"""Parse the `Endpoint=…;AccessKey=…;Model=…;Provider=…` connection strings.

The format comes from the .NET predecessor (`ConnectionStrings__chat-model`); operators
already have these strings, so we read them as they are rather than invent a new shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Provider(StrEnum):
    OPENAI = "openai"
    AZURE_OPENAI = "azureopenai"
    OLLAMA = "ollama"
    AZURE_AI_INFERENCE = "azureaiinference"
    OFFLINE = "offline"


# Spellings seen in the wild that mean the same provider.
_PROVIDER_ALIASES = {
    "azureinference": Provider.AZURE_AI_INFERENCE,
    "azure-ai-inference": Provider.AZURE_AI_INFERENCE,
    "azure-openai": Provider.AZURE_OPENAI,
}

_KNOWN_KEYS = {"endpoint", "accesskey", "model", "provider", "apiversion", "deployment"}


@dataclass(frozen=True, slots=True)
class ModelConnection:
    """One model endpoint: where it is, how to authenticate, which model."""

    provider: Provider
    endpoint: str = ""
    access_key: str = ""
    model: str = ""
    api_version: str = ""

    @property
    def is_offline(self) -> bool:
        return self.provider is Provider.OFFLINE

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return (
            f"ModelConnection(provider={self.provider.value!r}, endpoint={self.endpoint!r}, "
            f"model={self.model!r}, access_key={'***' if self.access_key else ''!r})"
        )


OFFLINE = ModelConnection(provider=Provider.OFFLINE, model="lucia-offline")


def parse_provider(value: str) -> Provider:
    name = value.strip().lower()
    if name in _PROVIDER_ALIASES:
        return _PROVIDER_ALIASES[name]
    try:
        return Provider(name)
    except ValueError:
        allowed = ", ".join(p.value for p in Provider)
        raise ValueError(f"unknown Provider {value!r}; expected one of: {allowed}") from None


def parse_connection_string(raw: str) -> ModelConnection:
    """Parse a connection string; raise ValueError naming the part that is wrong."""
    text = raw.strip()
    if not text or text.lower() in {"offline", "provider=offline"}:
        return OFFLINE
    parts: dict[str, str] = {}
    for segment in text.split(";"):
        if not segment.strip():
            continue
        key, sep, value = segment.partition("=")
        if not sep:
            raise ValueError(f"segment {segment.strip()!r} is not Key=Value")
        normalized = key.strip().lower()
        if normalized not in _KNOWN_KEYS:
            raise ValueError(
                f"unknown key {key.strip()!r}; expected Endpoint, AccessKey, Model, Provider "
                "(optional ApiVersion, Deployment)"
            )
        parts[normalized] = value.strip()
    provider = parse_provider(parts.get("provider", "openai"))
    if provider is Provider.OFFLINE:
        return OFFLINE
    endpoint = parts.get("endpoint", "")
    model = parts.get("model") or parts.get("deployment", "")
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"Endpoint must be an http(s) URL for Provider={provider.value}")
    if not model:
        raise ValueError(f"Model is required for Provider={provider.value}")
    if provider in {Provider.OPENAI, Provider.AZURE_OPENAI, Provider.AZURE_AI_INFERENCE} and not (
        parts.get("accesskey")
    ):
        raise ValueError(f"AccessKey is required for Provider={provider.value}")
    return ModelConnection(
        provider=provider,
        endpoint=endpoint,
        access_key=parts.get("accesskey", ""),
        model=model,
        api_version=parts.get("apiversion", ""),
    )
