"""Run the Pulumi program under recording mocks: every resource with its inputs (as the
engine would send them to the provider), its dependencies, and the stack outputs.

This is how the program is unit-tested (the official mocks, `preview=False`) and how the
deploy tool provisions without the Pulumi CLI: the recorded resources are applied to the
local Docker engine by `apply.py`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

# How the engine marks a secret value inside serialized properties.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    custom: bool
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)

    @property
    def plain(self) -> dict[str, Any]:
        """Inputs with secret markers removed: what the provider would receive."""
        return unwrap(self.inputs)

    def secret_paths(self) -> set[str]:
        return find_secrets(self.inputs)


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_MARK


def unwrap(value: Any) -> Any:
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def find_secrets(value: Any, path: str = "") -> set[str]:
    if is_secret(value):
        return {path}
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= find_secrets(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= find_secrets(item, f"{path}[{index}]")
    return found


class _Monitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, also keeping each registration's parent and dependencies."""

    def __init__(self, mocks: pulumi_mocks.Mocks, recorded: list[Resource]) -> None:
        super().__init__(mocks)
        self.recorded = recorded

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            for resource in reversed(self.recorded):
                if resource.name == request.name and resource.type == request.type:
                    resource.urn = response.urn
                    resource.parent = request.parent
                    resource.dependencies = list(request.dependencies)
                    resource.custom = bool(request.custom)
                    break
        return response


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.recorded: list[Resource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.recorded.append(Resource(args.typ, args.name, "", dict(args.inputs),
                                      bool(args.custom)))
        outputs = dict(args.inputs)
        outputs.setdefault("name", args.name)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        raise NotImplementedError(f"the lucia program makes no provider calls ({args.token})")


def _config_strings(config: dict[str, Any]) -> dict[str, str]:
    """Pulumi keeps config as strings; objects and lists as JSON."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict | list):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


@dataclass
class Recording:
    resources: list[Resource]
    outputs: dict[str, Any]

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        """The custom (provider) resource of that name, not a component that shares it."""
        return next(r for r in self.resources if r.name == name and r.custom)


def record(stack: str, config: dict[str, Any], secret_keys: list[str],
           project: str = "lucia") -> Recording:
    """Run `build` for a stack under mocks; return its resources and outputs."""
    from lucia_stack import config as stack_config
    from lucia_stack.program import build

    mocks = _Mocks()
    monitor = _Monitor(mocks, mocks.recorded)
    pulumi.runtime.set_all_config(_config_strings(config), secret_keys)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False,
                             monitor=monitor)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(build(stack_config.load())).apply(outputs.update)

    run()
    return Recording(list(mocks.recorded), outputs)
