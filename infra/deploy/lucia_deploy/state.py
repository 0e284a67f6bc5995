"""The applier's per-stack state (.state/<stack>/state.json), kept as Pulumi keeps a
stack's: for each resource its URN, type, name, Docker id, what it depends on, and the
state the provider's Read would hold for it. Secret values are never written: a property
that carries a secret is stored as its SHA-256, which is enough to see that it changed.

One state per stack and per path: a stack deployed by the applier is refused by the CLI
path until it is taken down (and the other way round), so the two never fight over the
same containers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lucia_deploy.recorder import Resource, digest_secrets

VERSION = 1


class StateError(RuntimeError):
    """The state file cannot be read as a state."""


def sanitise(resource: Resource, values: dict[str, Any]) -> dict[str, Any]:
    """Values with every secret-bearing property replaced by its digest."""
    secret_keys = {path.split(".")[0].split("[")[0] for path in resource.secret_paths()}
    return digest_secrets(values, secret_keys)


@dataclass
class Entry:
    urn: str
    type: str
    name: str
    id: str
    state: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    tainted: bool = False  # created, but its create did not finish: replaced next time


@dataclass
class StackState:
    path: Path
    resources: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StackState:
        if not path.exists():
            return cls(path)
        try:
            document = json.loads(path.read_text())
            if document.get("version") != VERSION:
                raise StateError(f"{path}: state version {document.get('version')} is not "
                                 f"{VERSION}; take the stack down with the tool that made it")
            return cls(path, {urn: Entry(**entry) for urn, entry in
                              document["resources"].items()})
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(f"{path} is not a lucia state file ({exc}); restore it from a "
                             "backup, or remove the stack's containers by hand and delete "
                             "the file") from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"version": VERSION,
                    "resources": {urn: asdict(e) for urn, e in self.resources.items()}}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True))
        temporary.replace(self.path)  # never a half-written state

    def put(self, entry: Entry) -> None:
        self.resources[entry.urn] = entry
        self.save()

    def drop(self, urn: str) -> None:
        self.resources.pop(urn, None)
        self.save()

    @property
    def empty(self) -> bool:
        return not self.resources
