"""Run the Pulumi program under provider-shaped mocks: every resource with its inputs,
the inputs after the provider's Check (defaults filled: what the engine gives policy
packs), the state the provider's Read would leave, its options and dependencies, and the
stack outputs.

The mocks answer like pulumi-docker (lucia_deploy/provider.py says how, with sources):
an input the provider reads back differently comes back differently, computed outputs
(ids, a RemoteImage's imageId) are unknown during a preview and known after an update.

This is how the program is unit-tested (the official mocks, `preview=True` and `False`) and
how the deploy tool provisions without the Pulumi CLI: the recorded resources are planned
and applied to the local Docker engine by `apply.py`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from lucia_deploy import provider

# The engine's marker of a secret inside serialized properties. The SDK keeps it private
# (pulumi.runtime.rpc); it is part of the engine's wire protocol (sdk/go/common/resource/
# sig/sig.go, shared by every language SDK), so it is read from the SDK here and
# tests/program/test_recorder_protocol.py holds it to the protocol's values: an SDK that moved or
# changed it fails that test, not a deployment.
SECRET_SIG = rpc._special_sig_key
SECRET_MARK = rpc._special_secret_sig
# A mock id names its resource, so the applier can put the real id in its place.
MOCK_ID_PREFIX = "mock-id:"

ImageIds = Callable[[str], str]


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]              # as the program registered them
    custom: bool
    checked: dict[str, Any] = field(default_factory=dict)   # after the provider's Check
    state: dict[str, Any] = field(default_factory=dict)     # what Read would leave
    id: str = ""
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    replace_on_changes: tuple[str, ...] = ()
    retain_on_delete: bool = False

    @property
    def plain(self) -> dict[str, Any]:
        """Checked inputs with secret markers removed: what the provider works with."""
        plain: dict[str, Any] = unwrap(self.checked if self.custom else self.inputs)
        return plain

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


def digest_secrets(values: dict[str, Any], secret_keys: set[str]) -> dict[str, Any]:
    """Values as the state keeps them: each secret-bearing property as its SHA-256."""
    out = {}
    for key, value in unwrap(values).items():
        if key in secret_keys:
            text = json.dumps(value, sort_keys=True)
            out[key] = {"secret-sha256": hashlib.sha256(text.encode()).hexdigest()}
        else:
            out[key] = value
    plain: dict[str, Any] = json.loads(json.dumps(out))  # JSON types, as they are read back
    return plain


def _engine_shaped(value: Any) -> Any:
    """Unknowns as the engine sends them to providers and policy packs: the sentinel."""
    if isinstance(value, Unknown):
        return provider.UNKNOWN
    if isinstance(value, dict):
        return {k: _engine_shaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_shaped(v) for v in value]
    return value


def mock_id(name: str) -> str:
    return f"{MOCK_ID_PREFIX}{name}"


def fake_image_id(reference: str) -> str:
    """A stable stand-in for a local image id, for tests with no engine."""
    return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()


class _Monitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, also keeping each registration's options."""

    def __init__(self, mocks: _ProviderMocks) -> None:
        super().__init__(mocks)
        self.provider_mocks = mocks

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            # Registrations run on executor threads, so find this one by type and name.
            resource = next(r for r in reversed(self.provider_mocks.recorded)
                            if (r.type, r.name) == (request.type, request.name))
            resource.urn = response.urn
            resource.parent = request.parent
            resource.dependencies = list(request.dependencies)
            resource.replace_on_changes = tuple(request.replaceOnChanges)
            resource.retain_on_delete = bool(request.retainOnDelete)
        return response


class _ProviderMocks(pulumi.runtime.Mocks):
    """Mocks that answer as pulumi-docker and pulumi-command would."""

    def __init__(self, preview: bool, image_ids: ImageIds,
                 prior: dict[str, dict[str, Any]] | None = None) -> None:
        self.preview = preview
        self.image_ids = image_ids
        self.prior = prior or {}  # the state's values by resource name (the engine's olds)
        self.recorded: list[Resource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = _engine_shaped(dict(args.inputs))
        if not args.custom:
            self.recorded.append(Resource(args.typ, args.name, "", inputs, False))
            return "", inputs
        secret_keys = {path.split(".")[0].split("[")[0] for path in find_secrets(inputs)}
        checked = provider.check(args.typ, inputs, args.name, self.prior.get(args.name),
                                 lambda values: digest_secrets(values, secret_keys))
        state = provider.read_back(args.typ, checked)
        resource = Resource(args.typ, args.name, "", inputs, True, checked, state)
        self.recorded.append(resource)
        outputs = {**state, **self._computed(args.typ, unwrap(checked))}
        if self.preview:
            return "", outputs  # ids are unknown until the resource exists
        resource.id = mock_id(args.name)
        return resource.id, outputs

    def _computed(self, type_: str, checked: dict[str, Any]) -> dict[str, Any]:
        """Outputs the provider computes. Left out during a preview, so they are unknown."""
        if self.preview:
            return {}
        if type_ == provider.REMOTE_IMAGE:
            return {"imageId": self.image_ids(checked["name"]), "repoDigest": ""}
        if type_ == provider.NETWORK:
            return {"driver": checked.get("driver", "bridge"), "scope": "local"}
        if type_ == provider.VOLUME:
            return {"driver": "local"}
        if type_ == provider.COMMAND:
            return {"stdout": "", "stderr": ""}
        return {}

    def call(self, args: pulumi.runtime.MockCallArgs,
             ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
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
    preview: bool = False

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        """The custom (provider) resource of that name, not a component that shares it."""
        return next(r for r in self.resources if r.name == name and r.custom)

    @property
    def custom(self) -> list[Resource]:
        return [r for r in self.resources if r.custom]


def record(stack: str, config: dict[str, Any], secret_keys: list[str],
           project: str = "lucia", *, preview: bool = False,
           image_ids: ImageIds = fake_image_id,
           prior: dict[str, dict[str, Any]] | None = None) -> Recording:
    """Run `build` for a stack under provider-shaped mocks; return resources and outputs.

    `image_ids` answers a RemoteImage's imageId (the deploy tool asks the engine; tests
    use a stable fake). `prior` is the stack's state by resource name, as the engine hands
    a provider the old inputs: auto-names are kept from it."""
    from lucia_stack import config as stack_config
    from lucia_stack.program import build

    mocks = _ProviderMocks(preview, image_ids, prior)
    pulumi.runtime.set_all_config(_config_strings(config), secret_keys)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview,
                             monitor=_Monitor(mocks))
    outputs: dict[str, Any] = {}

    def run() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(build(stack_config.load())).apply(outputs.update)

    # pulumi.runtime.test (unannotated) runs `run` in the mocked engine and waits for its
    # Output; called, not applied as a decorator, so `run` keeps its type.
    pulumi.runtime.test(run)()
    return Recording(list(mocks.recorded), outputs, preview)
