"""Stack configuration: every `lucia:*` key as a typed, validated model.

`StackSettings` is the schema. docs/configuration.md is generated from it (through
`KEYS`), and the stack files are checked against it, so an undocumented or misspelt key
fails a test. `load()` reads `pulumi.Config("lucia")` once and returns a `StackConfig`;
a bad value raises `ConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, get_args, get_origin

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lucia_stack.cpus import provider_cpus


class StackSettings(BaseModel):
    """The non-secret `lucia:*` keys of a stack file. Field names are the config keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["container", "swarm"] = Field("container", description=(
        "How the service runs: one hardened container, or a Docker Swarm service with "
        "serviceReplicas replicas behind an edge (docs/swarm.md)."))
    servicePort: int = Field(5000, gt=1024, lt=65536, description=(
        "Host port on 127.0.0.1 where the service is published (with engine swarm: the "
        "edge's port)."))
    serviceReplicas: int = Field(2, ge=1, le=32, description=(
        "engine swarm only: replicas of the service, each with its CPU and memory limits."))
    redisPlacement: str = Field("node.role == manager", min_length=1, description=(
        "engine swarm only: the placement constraint that keeps Redis on the node holding "
        "its volume (e.g. `node.labels.lucia.redis == true`)."))
    serviceImage: str = Field("", description=(
        "Service image reference; empty builds lucia:<version> locally from "
        "service/Dockerfile."))
    buildConfiguration: Literal["Release", "Debug"] = Field("Release", description=(
        "BUILD_CONFIGURATION of the service image."))
    redisImage: str = Field("", description=(
        "Redis image; empty builds lucia-redis from Debian packages, a registry reference "
        "(e.g. redis:8.2-alpine) is pulled."))
    serviceCpus: float = Field(2.0, gt=0, lt=10, description=(
        "CPU limit of the service container (CIS 5.12); below 10, in steps pulumi-docker "
        "reads back unchanged (docs/pulumi-fidelity.md)."))
    serviceMemoryMb: int = Field(1024, ge=64, description=(
        "Memory limit of the service container (CIS 5.11)."))
    redisCpus: float = Field(1.0, gt=0, lt=10, description=(
        "CPU limit of the Redis container (CIS 5.12); as serviceCpus."))
    redisMemoryMb: int = Field(512, ge=32, description=(
        "Memory limit of the Redis container (CIS 5.11)."))
    redisMaxmemoryPercent: int = Field(75, ge=10, le=95, description=(
        "Redis maxmemory as a percentage of its container limit; must stay below 100 so "
        "Redis refuses writes before the kernel kills it."))
    redisAppendfsync: Literal["always", "everysec", "no"] = Field("everysec", description=(
        "AOF fsync policy: always loses no acknowledged write; everysec may lose about a "
        "second."))
    redisPublishPort: int = Field(0, ge=0, lt=65536, description=(
        "Publish Redis on 127.0.0.1 at this port (0 = not published; meant for dev only)."))
    restartPolicy: Literal["unless-stopped", "on-failure", "always"] = Field(
        "unless-stopped", description="Container restart policy (CIS 5.15).")
    restartMaxRetries: int = Field(5, ge=1, le=5, description=(
        "Retries for restartPolicy on-failure (CIS 5.15: at most 5)."))
    servicePidsLimit: int = Field(256, ge=16, le=4096, description=(
        "PIDs limit of the service container (CIS 5.29)."))
    redisPidsLimit: int = Field(64, ge=16, le=4096, description=(
        "PIDs limit of the Redis container (CIS 5.29)."))
    logMaxSize: str = Field("10m", pattern=r"^[1-9][0-9]*[kmg]$", description=(
        "json-file log rotation size."))
    logMaxFiles: int = Field(3, ge=1, le=100, description="json-file log files kept.")
    logLevel: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description=(
        "LUCIA_LOG_LEVEL of the service."))
    homeAssistantUrl: str = Field("", description=(
        "Home Assistant base URL; empty means not configured."))
    simulators: bool = Field(False, description=(
        "Also run the Home Assistant and OpenAI-compatible simulators (sims/) on the "
        "stack network, and point the service at them unless homeAssistantUrl / chatModel / "
        "embeddingsModel are set. For dev and ci."))
    simulatorPortBase: int = Field(0, ge=0, lt=65535, description=(
        "Publish the Home Assistant simulator on 127.0.0.1 at this port and the LLM "
        "simulator at the next one, for tests to drive them (0 = not published)."))
    serviceEnvironment: dict[str, str] = Field(default_factory=dict, description=(
        "Extra non-secret LUCIA_* variables for the service, e.g. LUCIA_MAX_MESSAGE_CHARS."))

    @field_validator("redisPublishPort", "simulatorPortBase")
    @classmethod
    def _unprivileged_or_off(cls, port: int) -> int:
        if port and port <= 1024:
            raise ValueError("must be 0 or above 1024 (CIS 5.8)")
        return port

    @model_validator(mode="after")
    def _ports_distinct(self) -> StackSettings:
        published = [("servicePort", self.servicePort),
                     ("redisPublishPort", self.redisPublishPort)]
        if self.simulators and self.simulatorPortBase:
            published += [("simulatorPortBase", self.simulatorPortBase),
                          ("simulatorPortBase + 1", self.simulatorPortBase + 1)]
        seen: dict[int, str] = {}
        for name, port in published:
            if port and port in seen:
                raise ValueError(f"{name} and {seen[port]} both publish 127.0.0.1:{port}")
            seen[port] = name
        return self

    @model_validator(mode="after")
    def _swarm_keys_need_swarm(self) -> StackSettings:
        misplaced = sorted({"serviceReplicas", "redisPlacement"} & self.model_fields_set)
        if self.engine != "swarm" and misplaced:
            raise ValueError(f"{', '.join(misplaced)} only apply with engine swarm")
        if self.engine == "swarm" and self.redisPublishPort:
            raise ValueError("redisPublishPort cannot be used with engine swarm: Swarm "
                             "publishes on every address, never only on 127.0.0.1 (CIS 5.14)")
        return self

    @field_validator("serviceCpus", "redisCpus")
    @classmethod
    def _cpus_round_trip(cls, value: float) -> float:
        provider_cpus(value)  # raises ValueError naming the value it would become
        return value

    @field_validator("serviceEnvironment", mode="before")
    @classmethod
    def _only_lucia_variables(cls, value: Any) -> Any:
        if isinstance(value, dict):
            wrong = sorted(name for name in value if not str(name).startswith("LUCIA_"))
            if wrong:
                raise ValueError(f"may only set LUCIA_* variables, not {', '.join(wrong)}")
            return {str(k): str(v) for k, v in value.items()}
        return value


@dataclass(frozen=True, slots=True)
class SecretKey:
    name: str
    description: str
    generated: bool = False  # Redis passwords: generated once by the deploy tool


SECRET_KEYS: tuple[SecretKey, ...] = (
    SecretKey("redisPassword", "Password of Redis's default (admin) user.", generated=True),
    SecretKey("redisServicePassword", "Password of the service's Redis ACL user.",
              generated=True),
    SecretKey("chatModel", "ConnectionStrings__chat-model; empty means the offline model."),
    SecretKey("embeddingsModel", "ConnectionStrings__embeddings (optional)."),
    SecretKey("homeAssistantToken", "Home Assistant long-lived access token."),
    SecretKey("apiKey", "LUCIA_API_KEY: when set, /api/* and /a2a/* need X-Api-Key."),
)
PASSWORD_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"


@dataclass(frozen=True, slots=True)
class Key:
    """One row of the configuration reference (a view of the models above)."""

    name: str
    kind: type
    default: Any
    description: str
    secret: bool = False
    allowed: tuple[Any, ...] = ()


def _key(name: str, field: Any) -> Key:
    annotation = field.annotation
    allowed: tuple[Any, ...] = ()
    if get_origin(annotation) is Literal:
        allowed, kind = get_args(annotation), str
    else:
        kind = get_origin(annotation) or annotation
    default = field.default_factory() if field.default_factory else field.default
    return Key(name, kind, default, field.description or "", allowed=allowed)


KEYS: tuple[Key, ...] = (
    *(_key(name, field) for name, field in StackSettings.model_fields.items()),
    *(Key(s.name, str, None if s.generated else "", s.description, secret=True)
      for s in SECRET_KEYS),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}


def default_service_image() -> str:
    try:
        return f"lucia:{version('lucia')}"
    except PackageNotFoundError:
        return "lucia:0.0.0"


LOCAL_REDIS_IMAGE = "lucia-redis:7.0-bookworm-r1"
# The swarm stack's edge (infra/images/haproxy, docs/edge.md), built from Debian packages.
EDGE_IMAGE = "lucia-edge:2.6-bookworm-r1"


def simulator_image(service_image: str) -> str:
    """The simulators are built on the service image, so their tag follows it."""
    name, _, tag = service_image.rpartition(":")
    return f"{name.rsplit('/', 1)[-1]}-sims:{tag}" if name else f"lucia-sims:{tag}"


@dataclass(frozen=True)
class StackConfig:
    """What the program is built from: the project, the stack, its validated settings and
    its secrets (kept only as secret Outputs)."""

    project: str
    stack: str
    settings: StackSettings
    secrets: dict[str, pulumi.Output[str]]
    # Which secrets have a value. Whether a secret is set is not secret, and the swarm
    # engine makes a Swarm secret only for those (the values stay Outputs).
    present: frozenset[str] = frozenset()

    @property
    def prefix(self) -> str:
        """Every resource name starts with this, so stacks can run side by side."""
        return f"{self.project}-{self.stack}"

    @property
    def service_image(self) -> str:
        if self.settings.serviceImage:
            return self.settings.serviceImage
        # Debug and Release builds are different images: never let them share a tag.
        suffix = "-debug" if self.settings.buildConfiguration == "Debug" else ""
        return default_service_image() + suffix

    @property
    def redis_image(self) -> str:
        return self.settings.redisImage or LOCAL_REDIS_IMAGE

    @property
    def redis_maxmemory_mb(self) -> int:
        return self.settings.redisMemoryMb * self.settings.redisMaxmemoryPercent // 100


class ConfigError(ValueError):
    pass


def _raw_settings(config: pulumi.Config) -> dict[str, Any]:
    """Pulumi keeps config as strings; objects arrive as JSON text."""
    raw: dict[str, Any] = {}
    for name, field in StackSettings.model_fields.items():
        text = config.get(name)
        if text is None:
            continue
        if get_origin(field.annotation) is dict:
            try:
                raw[name] = json.loads(text)
            except json.JSONDecodeError:
                raw[name] = text  # pydantic names the key and the type
        else:
            raw[name] = text
    return raw


def describe(error: ValidationError, prefix: str = "lucia:") -> list[str]:
    """One line per bad key: the key, the value given and what is allowed (a rule across
    keys names them in its message)."""
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:
            lines.append(f"{prefix}* : {message}")
            continue
        key = ".".join(str(part) for part in item["loc"])
        lines.append(f"{prefix}{key} = {item.get('input')!r}: {message}")
    return lines


def validate_settings(raw: dict[str, Any]) -> StackSettings:
    try:
        return StackSettings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("; ".join(describe(exc))) from None


def _unknown_keys() -> list[str]:
    """`lucia:*` keys in the stack's config that no model field or secret names (a typo
    would otherwise be silently ignored: pulumi.Config only reads the keys asked for)."""
    from pulumi.runtime.config import CONFIG, get_config_env

    known = {f"lucia:{name}" for name in (*StackSettings.model_fields,
                                          *(s.name for s in SECRET_KEYS))}
    present = {*get_config_env(), *CONFIG.get()}
    return sorted(k for k in present if k.startswith("lucia:") and k not in known)


def load(config: pulumi.Config | None = None) -> StackConfig:
    """Read and check `lucia:*` config; raise ConfigError naming the key."""
    unknown = _unknown_keys()
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} (known keys: "
                          "docs/configuration.md)")
    config = config or pulumi.Config("lucia")
    settings = validate_settings(_raw_settings(config))
    secrets: dict[str, pulumi.Output[str]] = {}
    for key in SECRET_KEYS:
        # Read the plain value once to check it here, where a ConfigError is clear, then
        # keep it only as a secret Output (what get_secret does).
        raw = config.get(key.name)
        if raw is None and key.generated:
            raise ConfigError(f"lucia:{key.name} is required (a secret: set it with "
                              f"`pulumi config set --secret lucia:{key.name}`, or let "
                              "lucia-deploy generate it)")
        value = raw or ""
        if key.generated and not re.match(PASSWORD_PATTERN, value):
            raise ConfigError(f"lucia:{key.name} must be 16-128 characters of "
                              "A-Z a-z 0-9 _ -")
        secrets[key.name] = pulumi.Output.secret(value)
    present = frozenset(key.name for key in SECRET_KEYS if config.get(key.name))
    return StackConfig(pulumi.get_project(), pulumi.get_stack(), settings, secrets, present)

