"""Stack files and per-stack local state (.state/<stack>/, or $LUCIA_STATE_DIR): secrets,
the applier's state and outputs.

Secrets follow Pulumi's convention: a stack file may carry them only as encrypted
`secure:` values, which the Pulumi CLI writes (`pulumi config set --secret`, the value on
stdin) and decrypts. The offline path cannot decrypt them, so it takes secrets from the
environment at `up` (LUCIA_CHAT_MODEL, LUCIA_EMBEDDINGS_MODEL, LUCIA_HOMEASSISTANT_TOKEN,
LUCIA_API_KEY) or from .state/<stack>/secrets.json (mode 0600, git-ignored), where Redis
passwords are generated once and the others are kept for the next `up`; an encrypted key
it cannot find there is named in the error.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

import yaml

from lucia_deploy.images import REPO

STATE = Path(os.environ.get("LUCIA_STATE_DIR") or REPO / ".state")
PROJECT = "lucia"
NAMESPACE = "lucia"
GENERATED = ("redisPassword", "redisServicePassword")
FROM_ENVIRONMENT = {
    "chatModel": "LUCIA_CHAT_MODEL",
    "embeddingsModel": "LUCIA_EMBEDDINGS_MODEL",
    "homeAssistantToken": "LUCIA_HOMEASSISTANT_TOKEN",
    "apiKey": "LUCIA_API_KEY",
}


class Yaml12Loader(yaml.SafeLoader):
    """Stack files as Pulumi reads them (YAML 1.2): only true/false are booleans, so
    `redisAppendfsync: no` is the string "no", not False as YAML 1.1 would have it."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


class StackError(RuntimeError):
    """A stack file or its local state is not usable (exit code 2 unless a subclass says)."""


class NotUp(StackError):
    """The stack has no outputs: it is not up."""


class MissingSecrets(StackError):
    """A secret the stack file holds encrypted is nowhere the offline path can read."""


class PathConflict(StackError):
    """The stack is held by the other deploy path (the CLI's state or the applier's)."""


def stack_file(stack: str) -> Path:
    return REPO / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in REPO.glob("Pulumi.*.yaml"))


def _document_config(stack: str) -> dict[str, Any]:
    path = stack_file(stack)
    if not path.exists():
        raise StackError(f"no stack {stack!r}: {path.name} does not exist "
                         f"(stacks: {', '.join(available_stacks())})")
    try:
        document = yaml.load(path.read_text(), Loader=Yaml12Loader) or {}
    except yaml.YAMLError as exc:
        raise StackError(f"{path.name} is not valid YAML: {exc}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(config or {}, dict):
        raise StackError(f"{path.name}: expected `config:` with one `lucia:key: value` per "
                         "line")
    return config or {}


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's plain config, keys fully qualified (`lucia:servicePort`); the
    encrypted `secure:` values are left out (see `secure_keys`)."""
    return {key: value for key, value in _document_config(stack).items()
            if not (isinstance(value, dict) and "secure" in value)}


def secure_keys(stack: str) -> list[str]:
    """Keys the stack file holds as encrypted `secure:` values (Pulumi's convention). A
    stack with no file of its own (the proof's and the tests' derived stacks) has none."""
    if not stack_file(stack).exists():
        return []
    return sorted(key for key, value in _document_config(stack).items()
                  if isinstance(value, dict) and "secure" in value)


def state_dir(stack: str) -> Path:
    path = STATE / stack
    path.mkdir(parents=True, exist_ok=True)
    return path


def stack_secrets(stack: str) -> dict[str, str]:
    """Secrets for a stack: generated once, or from the environment, then remembered.
    A key the stack file holds encrypted must be found here, or it is named."""
    path = state_dir(stack) / "secrets.json"
    saved: dict[str, str] = _json_file(path) if path.exists() else {}
    values = dict(saved)
    encrypted = {key.split(":", 1)[1] for key in secure_keys(stack)}
    missing = [f"lucia:{name} (set {FROM_ENVIRONMENT[name]})" for name in FROM_ENVIRONMENT
               if name in encrypted and name not in saved
               and FROM_ENVIRONMENT[name] not in os.environ]
    if missing:
        raise MissingSecrets(f"{stack_file(stack).name} holds encrypted values only the Pulumi "
                         f"CLI can read, and they are not in the environment or "
                         f".state/{stack}: {', '.join(missing)}")
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


def applier_state_path(stack: str) -> Path:
    return STATE / stack / "state.json"


def cli_backend() -> Path:
    return STATE / "pulumi"


def cli_stack_resources(stack: str) -> int:
    """How many resources Pulumi's state holds for the stack (0 after `pulumi destroy`).
    The local file backend keeps the checkpoint in .pulumi/stacks/<project>/<stack>.json
    (project-scoped since Pulumi 3.61): {"checkpoint": {"latest": {"resources": [...]}}};
    the stack itself and provider resources are not containers."""
    path = cli_backend() / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"
    if not path.exists():
        return 0
    try:
        latest = (json.loads(path.read_text()).get("checkpoint") or {}).get("latest") or {}
    except json.JSONDecodeError as exc:
        raise StackError(f"{path} is not a Pulumi checkpoint ({exc})") from None
    return sum(1 for r in latest.get("resources") or []
               if r.get("type") != "pulumi:pulumi:Stack"
               and not str(r.get("type", "")).startswith("pulumi:providers:"))


def write_outputs(stack: str, outputs: dict[str, Any]) -> Path:
    path = state_dir(stack) / "outputs.json"
    path.write_text(json.dumps(outputs, indent=2, sort_keys=True))
    return path


def read_outputs(stack: str) -> dict[str, Any]:
    path = STATE / stack / "outputs.json"
    if not path.exists():
        raise NotUp(f"stack {stack} is not up; run `make up STACK={stack}` first")
    outputs: dict[str, Any] = _json_file(path)
    return outputs


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StackError(f"{path} is not valid JSON ({exc}); fix or remove it") from None
