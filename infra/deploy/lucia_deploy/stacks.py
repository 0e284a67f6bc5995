"""Stack files and per-stack local state (.state/<stack>/): secrets and outputs.

Secrets never go in a stack file. Without the Pulumi CLI there is no encrypted config, so
they live in .state/<stack>/secrets.json (mode 0600, git-ignored): Redis passwords are
generated once; the others come from the environment at `up` (LUCIA_CHAT_MODEL,
LUCIA_EMBEDDINGS_MODEL, LUCIA_HOMEASSISTANT_TOKEN, LUCIA_API_KEY) and are kept for the next
`up`. With the CLI, the same values are set with `pulumi config set --secret`.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from lucia_deploy.images import REPO

STATE = REPO / ".state"
PROJECT = "lucia"
NAMESPACE = "lucia"
GENERATED = ("redisPassword", "redisServicePassword")
FROM_ENVIRONMENT = {
    "chatModel": "LUCIA_CHAT_MODEL",
    "embeddingsModel": "LUCIA_EMBEDDINGS_MODEL",
    "homeAssistantToken": "LUCIA_HOMEASSISTANT_TOKEN",
    "apiKey": "LUCIA_API_KEY",
}


class StackError(RuntimeError):
    pass


def stack_file(stack: str) -> Path:
    return REPO / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in REPO.glob("Pulumi.*.yaml"))


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's config block, keys fully qualified (`lucia:servicePort`)."""
    path = stack_file(stack)
    if not path.exists():
        raise StackError(f"no stack {stack!r}: {path.name} does not exist "
                         f"(stacks: {', '.join(available_stacks())})")
    document = yaml.safe_load(path.read_text()) or {}
    config = document.get("config") or {}
    for key, value in config.items():
        if isinstance(value, dict) and "secure" in value:
            raise StackError(f"{path.name}: {key} is an encrypted value, which only the "
                             "Pulumi CLI can read; put secrets in the environment instead")
    return config


def state_dir(stack: str) -> Path:
    path = STATE / stack
    path.mkdir(parents=True, exist_ok=True)
    return path


def stack_secrets(stack: str) -> dict[str, str]:
    """Secrets for a stack: generated once, or from the environment, then remembered."""
    path = state_dir(stack) / "secrets.json"
    saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    values = dict(saved)
    for name in GENERATED:
        values.setdefault(name, secrets.token_urlsafe(24))
    for name, variable in FROM_ENVIRONMENT.items():
        if variable in os.environ:
            values[name] = os.environ[variable]
        values.setdefault(name, "")
    if values != saved:
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(json.dumps(values, indent=2))
    return values


def qualified_secrets(stack: str) -> tuple[dict[str, str], list[str]]:
    values = {f"{NAMESPACE}:{k}": v for k, v in stack_secrets(stack).items()}
    return values, sorted(values)


def write_outputs(stack: str, outputs: dict[str, Any]) -> Path:
    path = state_dir(stack) / "outputs.json"
    path.write_text(json.dumps(outputs, indent=2, sort_keys=True))
    return path


def read_outputs(stack: str) -> dict[str, Any]:
    path = STATE / stack / "outputs.json"
    if not path.exists():
        raise StackError(f"stack {stack!r} has no outputs; run `make up STACK={stack}` first")
    return json.loads(path.read_text())
