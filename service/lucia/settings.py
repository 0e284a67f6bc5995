"""All configuration, read once from the environment and validated at start-up.

Every field names its environment variable(s) through `validation_alias`, so the
configuration reference (docs/configuration.md) can be generated from this model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lucia.connection_string import OFFLINE, ModelConnection, parse_connection_string

MAX_WORKERS = 64


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """The lucia service's settings. Field descriptions are the documentation."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", populate_by_name=True, frozen=True
    )

    # --- HTTP ---------------------------------------------------------------------------
    host: str = Field("0.0.0.0", validation_alias=_env("LUCIA_HOST"),
                      description="Address the HTTP server binds to.")
    port: int = Field(8080, ge=1, le=65535, validation_alias=_env("LUCIA_PORT"),
                      description="Port the HTTP server listens on.")
    public_url: str = Field("", validation_alias=_env("LUCIA_PUBLIC_URL"),
                            description="Base URL written into agent cards; empty means "
                                        "the URL the request arrived on.")
    api_key: SecretStr | None = Field(None, validation_alias=_env("LUCIA_API_KEY"),
                                      description="When set, /api/* and /a2a/* require this "
                                                  "value in the X-Api-Key header.")
    max_body_bytes: int = Field(65536, ge=1024, le=10 * 1024 * 1024,
                                validation_alias=_env("LUCIA_MAX_BODY_BYTES"),
                                description="Largest accepted request body; larger gets 413.")
    max_message_chars: int = Field(4000, ge=1, le=100_000,
                                   validation_alias=_env("LUCIA_MAX_MESSAGE_CHARS"),
                                   description="Longest accepted chat message, in characters.")
    shutdown_timeout_seconds: float = Field(
        10.0, gt=0, le=120, validation_alias=_env("LUCIA_SHUTDOWN_TIMEOUT_SECONDS"),
        description="On SIGTERM, how long in-flight requests may take to finish.")
    workers: str = Field(
        "auto", validation_alias=_env("LUCIA_WORKERS"),
        description="Worker processes sharing the port (SO_REUSEPORT, under gunicorn's "
                    "arbiter): `auto` runs one per CPU of the container's CPU limit (cgroup "
                    "quota rounded up, at most the CPUs there are), or a number from 1 to 64. "
                    "1 serves from the main process, as a plain aiohttp app.")
    metrics_dir: str = Field(
        "", validation_alias=_env("LUCIA_METRICS_DIR"),
        description="With more than one worker: the directory of prometheus-client's "
                    "multiprocess files, emptied at start; empty means a new directory "
                    "under the temporary directory (the container's /tmp tmpfs), removed "
                    "at exit.")
    build_configuration: Literal["Release", "Debug"] = Field(
        "Release", validation_alias=_env("LUCIA_BUILD_CONFIGURATION"),
        description="Set by the image's BUILD_CONFIGURATION; Debug turns on asyncio debug "
                    "mode (slow-callback warnings, unawaited coroutine tracebacks).")
    health_cache_seconds: float = Field(
        1.0, ge=0, le=30, validation_alias=_env("LUCIA_HEALTH_CACHE_SECONDS"),
        description="How long a /health result is reused; 0 checks the dependencies on "
                    "every call.")
    log_level: str = Field("INFO", validation_alias=_env("LUCIA_LOG_LEVEL"),
                           description="DEBUG, INFO, WARNING or ERROR.")
    library_log_level: str = Field(
        "WARNING", validation_alias=_env("LUCIA_LIBRARY_LOG_LEVEL"),
        description="Level of the HTTP and SDK libraries' loggers (httpx, httpcore, openai, "
                    "aiohttp.access): DEBUG shows every LLM call's wire traffic, opt-in only.")

    # --- Redis --------------------------------------------------------------------------
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_env("REDIS_URL"),
                           description="Redis URL (redis:// or rediss://).")
    redis_username: str | None = Field(None, validation_alias=_env("REDIS_USERNAME"),
                                       description="Redis ACL user; overrides the URL's.")
    redis_password: SecretStr | None = Field(None, validation_alias=_env("REDIS_PASSWORD"),
                                             description="Redis password; overrides the URL's.")
    redis_timeout_seconds: float = Field(
        0.5, gt=0, le=10, validation_alias=_env("REDIS_TIMEOUT_SECONDS"),
        description="Connect and command timeout for one Redis attempt.")
    redis_retries: int = Field(2, ge=0, le=10, validation_alias=_env("REDIS_RETRIES"),
                               description="Retries (with backoff) after a Redis connection "
                                           "error before answering 503.")
    session_ttl_seconds: int = Field(7 * 24 * 3600, ge=60,
                                     validation_alias=_env("LUCIA_SESSION_TTL_SECONDS"),
                                     description="Idle time after which a session expires.")
    task_ttl_seconds: int = Field(7 * 24 * 3600, ge=60,
                                  validation_alias=_env("LUCIA_TASK_TTL_SECONDS"),
                                  description="How long an A2A task is kept.")
    oneshot_session_ttl_seconds: int = Field(
        3600, ge=60, validation_alias=_env("LUCIA_ONESHOT_SESSION_TTL_SECONDS"),
        description="TTL of a session opened by a turn without a sessionId (and of its "
                    "tasks); continuing it gives it the full session TTL.")
    storage_high_watermark: float = Field(
        0.8, ge=0.1, le=0.99, validation_alias=_env("LUCIA_STORAGE_HIGH_WATERMARK"),
        description="Fraction of Redis maxmemory above which storage is High: /health is "
                    "Degraded and new sessions are refused (or pruned for).")
    storage_full_policy: Literal["refuse", "prune-idle"] = Field(
        "refuse", validation_alias=_env("LUCIA_STORAGE_FULL_POLICY"),
        description="Above the watermark: refuse new sessions with 503 storage_full, or "
                    "delete the sessions closest to expiry until below it.")
    storage_check_seconds: float = Field(
        1.0, ge=0, le=60, validation_alias=_env("LUCIA_STORAGE_CHECK_SECONDS"),
        description="How often Redis memory is read; callers in between share the result.")
    storage_retry_after_seconds: int = Field(
        30, ge=1, le=3600, validation_alias=_env("LUCIA_STORAGE_RETRY_AFTER_SECONDS"),
        description="Retry-After sent with 503 storage_full.")
    history_max_messages: int = Field(50, ge=2, le=1000,
                                      validation_alias=_env("LUCIA_HISTORY_MAX_MESSAGES"),
                                      description="Messages kept per session (oldest trimmed).")
    context_messages: int = Field(20, ge=0, le=1000,
                                  validation_alias=_env("LUCIA_CONTEXT_MESSAGES"),
                                  description="Most recent messages of a session given to the "
                                              "agents and the model as context each turn.")

    # --- LLM ----------------------------------------------------------------------------
    chat_model: Annotated[ModelConnection, NoDecode] = Field(
        OFFLINE, validation_alias=_env("ConnectionStrings__chat-model"),
        description="Chat model connection string "
                    "`Endpoint=…;AccessKey=…;Model=…;Provider=…` with Provider one of "
                    "openai, azureopenai, ollama, azureaiinference (azureinference), offline. "
                    "Empty means the embedded offline provider.")
    embeddings_model: Annotated[ModelConnection | None, NoDecode] = Field(
        None, validation_alias=_env("ConnectionStrings__embeddings"),
        description="Optional embeddings connection string (same format, any provider but "
                    "offline) for semantic matching of entity and area names.")
    llm_timeout_seconds: float = Field(20.0, gt=0, le=300,
                                       validation_alias=_env("LUCIA_LLM_TIMEOUT_SECONDS"),
                                       description="Timeout for one LLM call; exceeded gives 504.")
    llm_max_retries: int = Field(1, ge=0, le=5, validation_alias=_env("LUCIA_LLM_MAX_RETRIES"),
                                 description="SDK retries on connection errors and 5xx.")
    routing_confidence_threshold: float = Field(
        0.5, ge=0, le=1, validation_alias=_env("LUCIA_ROUTING_CONFIDENCE_THRESHOLD"),
        description="Below this routing confidence the general assistant asks to clarify.")
    agent_timeout_seconds: float = Field(15.0, gt=0, le=300,
                                         validation_alias=_env("LUCIA_AGENT_TIMEOUT_SECONDS"),
                                         description="Per-agent time limit in a multi-agent turn.")
    embedding_match_threshold: float = Field(
        0.75, ge=0, le=1, validation_alias=_env("LUCIA_EMBEDDING_MATCH_THRESHOLD"),
        description="Cosine similarity needed for a semantic entity match.")

    # --- Home Assistant -----------------------------------------------------------------
    home_assistant_url: str = Field(
        "", validation_alias=_env("HomeAssistant__BaseUrl", "HOMEASSISTANT_URL"),
        description="Home Assistant base URL; empty means not configured.")
    home_assistant_token: SecretStr | None = Field(
        None, validation_alias=_env("HomeAssistant__AccessToken", "HOMEASSISTANT_ACCESS_TOKEN"),
        description="Home Assistant long-lived access token.")
    home_assistant_timeout_seconds: float = Field(
        5.0, gt=0, le=60,
        validation_alias=_env("HomeAssistant__TimeoutSeconds", "HOMEASSISTANT_TIMEOUT_SECONDS"),
        description="Timeout for one Home Assistant request.")
    home_assistant_verify_ssl: bool = Field(
        True, validation_alias=_env("HomeAssistant__VerifySsl", "HOMEASSISTANT_VERIFY_SSL"),
        description="Verify Home Assistant's TLS certificate.")

    @field_validator("chat_model", mode="before")
    @classmethod
    def _parse_chat_model(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_connection_string(value)
        return value

    @field_validator("embeddings_model", mode="before")
    @classmethod
    def _parse_embeddings(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            parsed = parse_connection_string(value)
            if parsed.is_offline:
                raise ValueError("the offline provider has no embeddings; unset the variable")
            return parsed
        return value

    @field_validator("home_assistant_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("workers")
    @classmethod
    def _check_workers(cls, value: str) -> str:
        value = value.strip().lower()
        if value == "auto":
            return value
        if not value.isdigit() or not 1 <= int(value) <= MAX_WORKERS:
            raise ValueError(f"must be auto or a whole number from 1 to {MAX_WORKERS}")
        return str(int(value))

    @field_validator("log_level", "library_log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def home_assistant_configured(self) -> bool:
        return bool(self.home_assistant_url)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, SecretFiles(settings_cls), dotenv_settings,
                file_secret_settings)


# The secrets, each of which may also be given as a file: `<VARIABLE>_FILE` names it.
SECRET_FIELDS = ("api_key", "redis_password", "chat_model", "embeddings_model",
                 "home_assistant_token")


class SecretFiles(PydanticBaseSettingsSource):
    """`REDIS_PASSWORD_FILE=/run/secrets/redis-password` and the like: a secret read from a
    file (how Docker and Swarm secrets arrive, docs/swarm.md), so it is never in the
    environment. Setting both the variable and its `_FILE` is refused, as is a file that
    cannot be read; one trailing newline is dropped (what `echo` and editors leave)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        environ = {name.lower(): value for name, value in os.environ.items()}
        values: dict[str, Any] = {}
        for field in SECRET_FIELDS:
            names = env_names(field)
            given = [n for n in names if n.lower() in environ]
            for name in names:
                path = environ.get(f"{name}_file".lower())
                if path is None:
                    continue
                if given:  # the value itself, under this name or an alias of it
                    raise SettingsError(f"invalid configuration:\n  {given[0]} and "
                                        f"{name}_FILE are both set; set one")
                try:
                    text = Path(path).read_text(encoding="utf-8")
                except OSError as exc:
                    raise SettingsError(f"invalid configuration:\n  {name}_FILE: cannot read "
                                        f"{path}: {exc.strerror}") from None
                values[field] = text.removesuffix("\n")
        return values


def env_names(field_name: str) -> list[str]:
    """The environment variables that set a field, first one preferred."""
    alias = Settings.model_fields[field_name].validation_alias
    assert isinstance(alias, AliasChoices)
    return [str(choice) for choice in alias.choices]


class SettingsError(Exception):
    """Start-up configuration is invalid; the message names each bad variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        # Overrides arrive as `object`s by field name; pydantic validates each (and reads
        # every other field from the environment), which the typed __init__ cannot express.
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        by_alias = {
            name.lower(): env_names(field) for field in Settings.model_fields
            for name in env_names(field)
        }
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else "?"
            names = by_alias.get(where.lower(), [where])
            lines.append(f"{' / '.join(names)}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
