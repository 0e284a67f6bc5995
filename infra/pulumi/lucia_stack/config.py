"""Stack configuration: every `lucia:*` key, its default and its meaning, in one place.

`KEYS` is the schema; docs/configuration.md is generated from it and the stack files are
checked against it, so an undocumented or misspelt key fails a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pulumi


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: type
    default: Any
    description: str
    secret: bool = False
    allowed: tuple[Any, ...] = ()


KEYS: tuple[Key, ...] = (
    Key("servicePort", int, 5000, "Host port on 127.0.0.1 where the service is published."),
    Key("serviceImage", str, "", "Service image reference; empty builds lucia:<version> "
        "locally from service/Dockerfile."),
    Key("buildConfiguration", str, "Release", "BUILD_CONFIGURATION of the service image.",
        allowed=("Release", "Debug")),
    Key("redisImage", str, "", "Redis image; empty builds lucia-redis from Debian packages, "
        "a registry reference (e.g. redis:8.2-alpine) is pulled."),
    Key("serviceCpus", float, 2.0, "CPU limit of the service container (CIS 5.12)."),
    Key("serviceMemoryMb", int, 1024, "Memory limit of the service container (CIS 5.11)."),
    Key("redisCpus", float, 1.0, "CPU limit of the Redis container (CIS 5.12)."),
    Key("redisMemoryMb", int, 512, "Memory limit of the Redis container (CIS 5.11)."),
    Key("redisMaxmemoryPercent", int, 75, "Redis maxmemory as a percentage of its container "
        "limit; must stay below 100 so Redis refuses writes before the kernel kills it."),
    Key("redisAppendfsync", str, "everysec", "AOF fsync policy: always loses no "
        "acknowledged write; everysec may lose about a second.",
        allowed=("always", "everysec", "no")),
    Key("redisPublishPort", int, 0, "Publish Redis on 127.0.0.1 at this port (0 = not "
        "published; meant for dev only)."),
    Key("restartPolicy", str, "unless-stopped", "Container restart policy (CIS 5.15).",
        allowed=("unless-stopped", "on-failure", "always")),
    Key("restartMaxRetries", int, 5, "Retries for restartPolicy on-failure (CIS 5.15)."),
    Key("logMaxSize", str, "10m", "json-file log rotation size."),
    Key("logMaxFiles", int, 3, "json-file log files kept."),
    Key("logLevel", str, "INFO", "LUCIA_LOG_LEVEL of the service.",
        allowed=("DEBUG", "INFO", "WARNING", "ERROR")),
    Key("homeAssistantUrl", str, "", "Home Assistant base URL; empty means not configured."),
    Key("simulators", bool, False, "Also run the Home Assistant and OpenAI-compatible "
        "simulators (tests/sim) on the stack network, and point the service at them unless "
        "homeAssistantUrl / chatModel / embeddingsModel are set. For dev and ci."),
    Key("simulatorPortBase", int, 0, "Publish the Home Assistant simulator on 127.0.0.1 at "
        "this port and the LLM simulator at the next one, for tests to drive them "
        "(0 = not published)."),
    Key("serviceEnvironment", dict, {}, "Extra non-secret LUCIA_* variables for the service, "
        "e.g. LUCIA_MAX_MESSAGE_CHARS."),
    Key("redisPassword", str, None, "Password of Redis's default (admin) user.", secret=True),
    Key("redisServicePassword", str, None, "Password of the service's Redis ACL user.",
        secret=True),
    Key("chatModel", str, "", "ConnectionStrings__chat-model; empty means the offline "
        "model.", secret=True),
    Key("embeddingsModel", str, "", "ConnectionStrings__embeddings (optional).", secret=True),
    Key("homeAssistantToken", str, "", "Home Assistant long-lived access token.", secret=True),
    Key("apiKey", str, "", "LUCIA_API_KEY: when set, /api/* and /a2a/* need X-Api-Key.",
        secret=True),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}
_PASSWORD = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def default_service_image() -> str:
    try:
        return f"lucia:{version('lucia')}"
    except PackageNotFoundError:
        return "lucia:0.0.0"


LOCAL_REDIS_IMAGE = "lucia-redis:7.0-bookworm-r1"


def simulator_image(service_image: str) -> str:
    """The simulators are built on the service image, so their tag follows it."""
    name, _, tag = service_image.rpartition(":")
    return f"{name.rsplit('/', 1)[-1]}-sims:{tag}" if name else f"lucia-sims:{tag}"


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    values: dict[str, Any]
    secrets: dict[str, pulumi.Output[str]]

    @property
    def prefix(self) -> str:
        """Every resource name starts with this, so stacks can run side by side."""
        return f"{self.project}-{self.stack}"

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def service_image(self) -> str:
        if self.values["serviceImage"]:
            return self.values["serviceImage"]
        # Debug and Release builds are different images: never let them share a tag.
        suffix = "-debug" if self.values["buildConfiguration"] == "Debug" else ""
        return default_service_image() + suffix

    @property
    def redis_image(self) -> str:
        return self.values["redisImage"] or LOCAL_REDIS_IMAGE

    @property
    def redis_maxmemory_mb(self) -> int:
        return self.values["redisMemoryMb"] * self.values["redisMaxmemoryPercent"] // 100


class ConfigError(ValueError):
    pass


def _read(config: pulumi.Config, key: Key) -> Any:
    if key.kind is bool:
        value = config.get_bool(key.name)
    elif key.kind is int:
        value = config.get_int(key.name)
    elif key.kind is float:
        value = config.get_float(key.name)
    elif key.kind is dict:
        value = config.get_object(key.name)
    else:
        value = config.get(key.name)
    value = key.default if value is None else value
    if key.allowed and value not in key.allowed:
        raise ConfigError(f"lucia:{key.name} must be one of {', '.join(map(str, key.allowed))}"
                          f", not {value!r}")
    return value


def load(config: pulumi.Config | None = None) -> StackConfig:
    """Read and check `lucia:*` config; raise ConfigError naming the key."""
    config = config or pulumi.Config("lucia")
    values = {key.name: _read(config, key) for key in KEYS if not key.secret}
    secrets: dict[str, pulumi.Output[str]] = {}
    for key in (k for k in KEYS if k.secret):
        # Read the plain value once to check it here, where a ConfigError is clear, then
        # keep it only as a secret Output (what get_secret does).
        raw = config.get(key.name)
        if raw is None and key.default is None:
            raise ConfigError(f"lucia:{key.name} is required (a secret; never in a stack file)")
        value = key.default if raw is None else raw
        if key.name in ("redisPassword", "redisServicePassword") and not _PASSWORD.match(value):
            raise ConfigError(f"lucia:{key.name} must be 16-128 characters of "
                              "A-Z a-z 0-9 _ -")
        secrets[key.name] = pulumi.Output.secret(value)
    if not 10 <= values["redisMaxmemoryPercent"] <= 95:
        raise ConfigError("lucia:redisMaxmemoryPercent must be between 10 and 95")
    if not 1024 < values["servicePort"] < 65536:
        raise ConfigError("lucia:servicePort must be above 1024 (CIS 5.8) and below 65536")
    for name in ("redisPublishPort", "simulatorPortBase"):
        port = values[name]
        if port and not 1024 < port < 65535:
            raise ConfigError(f"lucia:{name} must be 0 or above 1024 (CIS 5.8)")
    for name in values["serviceEnvironment"]:
        if not name.startswith("LUCIA_"):
            raise ConfigError(f"lucia:serviceEnvironment may only set LUCIA_* variables, "
                              f"not {name}")
    return StackConfig(pulumi.get_project(), pulumi.get_stack(), values, secrets)

