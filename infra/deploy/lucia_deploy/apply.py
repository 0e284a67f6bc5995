"""Plan and apply recorded Pulumi resources on the local Docker engine with docker-py,
as `pulumi up --refresh` with pulumi-docker would.

- **Refresh**: each resource in the state is looked up; one that is gone is created
  again, a stopped container reads back `mustRun: false` (the provider's Read), so the
  plan starts it in place.
- **Plan**: each recorded resource against its state, with the provider's own rules
  (lucia_deploy/provider.py): create, update (in place, or state only), replace, or
  unchanged; resources the program no longer declares are deleted. The plan is printed
  before anything changes, like `pulumi preview`.
- **Apply**: in dependency order (deletes in reverse), saving the state after each step,
  so an interrupted run leaves a state that says what exists.

Only the resource types and properties in the provider table are known; any other is an
error, never dropped.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import docker.models.containers
import docker.models.resource
import docker.models.services
import docker.types

from lucia_deploy import containers, provider, reads, services
from lucia_deploy.containers import (  # noqa: F401 - Unhealthy is part of apply's API
    ApplyError,
    Unhealthy,
    docker_id,
    labels_of,
)
from lucia_deploy.progress import say
from lucia_deploy.provider import (
    COMMAND,
    CONTAINER,
    NETWORK,
    REMOTE_IMAGE,
    SECRET,
    SERVICE,
    VOLUME,
)
from lucia_deploy.recorder import MOCK_ID_PREFIX, Recording, Resource, mock_id
from lucia_deploy.state import Entry, StackState, sanitise

PENDING = "(known after apply)"
# The applier runs a container's life as the provider does; these would change that.
MUST_STAY = {"rm": False, "attach": False, "logs": False, "start": True, "tty": False,
             "stdinOpen": False}


@dataclass
class Step:
    action: str            # create | update | replace | delete | unchanged | import
    urn: str
    type: str
    name: str
    resource: Resource | None = None
    diff: provider.Diff | None = None
    reason: str = ""

    def line(self) -> str:
        short = self.type.split(":")[-1]
        detail = self.reason or (self.diff.describe() if self.diff else "")
        return f"{self.action:9} {short:12} {self.name}" + (f"  [{detail}]" if detail else "")


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.action != "unchanged"]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.action] = counts.get(s.action, 0) + 1
        order = ("create", "import", "update", "replace", "delete", "unchanged")
        return ", ".join(f"{counts[a]} to {a}" if a != "unchanged" else f"{counts[a]} unchanged"
                         for a in order if counts.get(a))

    def print(self) -> None:
        for s in self.steps:
            say(f"  {s.line()}")
        say(f"plan: {len(self.changes)} change(s): {self.summary() or 'nothing'}")


def order(recording: Recording) -> list[Resource]:
    """Custom resources, each after the resources it depends on."""
    resources = recording.custom
    by_urn = {r.urn: r for r in recording.resources}
    done: list[Resource] = []

    def visit(resource: Resource, path: tuple[str, ...]) -> None:
        if resource in done:
            return
        if resource.urn in path:
            raise ApplyError(f"dependency cycle through {resource.name}")
        for urn in resource.dependencies:
            if urn in by_urn and by_urn[urn].custom:
                visit(by_urn[urn], (*path, resource.urn))
        done.append(resource)

    for resource in resources:
        visit(resource, ())
    return done


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    """Put real ids where the mocks gave a resource's mock id (as the engine resolves an
    output into a dependent's input)."""
    if isinstance(value, str) and value.startswith(MOCK_ID_PREFIX):
        return ids.get(value, PENDING)
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


class Applier:
    def __init__(self, client: docker.DockerClient, state: StackState) -> None:
        self.client = client
        self.state = state
        self.ids: dict[str, str] = {}   # mock id -> real id
        # Replaced resources that are not DeleteBeforeReplace (a secret): the old one goes
        # after everything that used it has moved to the new one, as the engine does.
        self.replaced: list[Entry] = []

    # --- refresh and plan ---------------------------------------------------------------

    def refresh(self, persist: bool = True) -> None:
        """Read every resource in the state from the engine, as `--refresh` does: what is
        gone leaves the state (and is created again); a container reads back what it can
        have changed while it lives (reads.read_container: a stopped one must_run=false,
        CF:815-824, `State.Running` staying true while paused or restarting; a name, a
        restart policy or limits changed by hand), a service its whole spec
        (reads.read_service), so the plan sets them back as Pulumi's would. With
        persist=False (a preview) nothing is saved."""
        for urn, entry in list(self.state.resources.items()):
            found = self._lookup(entry)
            if found is None:
                say(f"refresh: {entry.name} is gone; it will be created again")
                if persist:
                    self.state.drop(urn)
                else:
                    self.state.resources.pop(urn)
            elif (entry.type == CONTAINER
                  and isinstance(found, docker.models.containers.Container)):
                entry.state.update(reads.read_container(found.attrs))
            elif entry.type == SERVICE and isinstance(found, docker.models.services.Service):
                entry.state.update(reads.read_service(found.attrs))

    def _lookup(self, entry: Entry) -> docker.models.resource.Model | Entry | None:
        """The engine's object for an entry, None when it is gone; a Command's entry
        itself (there is nothing to read back)."""
        getters: dict[str, Callable[[str], docker.models.resource.Model]] = {
            CONTAINER: self.client.containers.get, NETWORK: self.client.networks.get,
            VOLUME: self.client.volumes.get, REMOTE_IMAGE: self.client.images.get,
            SERVICE: self.client.services.get, SECRET: self.client.secrets.get}
        getter = getters.get(entry.type)
        if getter is None:
            return entry  # a Command has nothing to read back
        # I funcs:103-132: an image is found by its name, not by the id it had.
        key = entry.state.get("name", entry.id) if entry.type == REMOTE_IMAGE else entry.id
        try:
            return getter(key)
        except docker.errors.NotFound:
            return None

    def plan(self, recording: Recording) -> Plan:
        if recording.preview:
            raise ApplyError("cannot apply a preview recording (its ids are unknown)")
        plan = Plan()
        ids: dict[str, str] = {}
        declared = set()
        for resource in order(recording):
            declared.add(resource.urn)
            unknown = sorted(set(resource.plain) - set(provider.props(resource.type)))
            if unknown:
                raise ApplyError(f"{resource.name}: properties {unknown} are not supported")
            for key, value in MUST_STAY.items():
                if resource.type == CONTAINER and resource.plain.get(key, value) != value:
                    raise ApplyError(f"{resource.name}: {key}={resource.plain[key]} is not "
                                     "supported by the docker-py applier")
            entry = self.state.resources.get(resource.urn)
            new = sanitise(resource, _substitute(resource.checked, ids))
            if entry is None:
                adopted = self._adoptable(resource)
                if adopted:
                    step = Step("import", resource.urn, resource.type, resource.name,
                                resource, reason=adopted)
                else:
                    step = Step("create", resource.urn, resource.type, resource.name, resource)
            elif entry.tainted:
                step = Step("replace", resource.urn, resource.type, resource.name, resource,
                            reason="tainted: its create did not finish")
            else:
                diff = provider.diff(resource.type, entry.state, new,
                                     resource.replace_on_changes)
                step = Step(diff.kind, resource.urn, resource.type, resource.name, resource,
                            diff)
            if step.action in ("create", "replace") or (
                    step.action == "import" and resource.type == CONTAINER):
                ids[mock_id(resource.name)] = PENDING
            else:
                ids[mock_id(resource.name)] = entry.id if entry else PENDING
            plan.steps.append(step)
        for entry in self._dependents_first():
            if entry.urn not in declared:
                reason = "retained: kept on the engine" if entry.retain_on_delete else ""
                plan.steps.append(Step("delete", entry.urn, entry.type, entry.name,
                                       reason=reason))
        return plan

    def _dependents_first(self) -> list[Entry]:
        """The state's entries, each after everything that depends on it."""
        entries = list(self.state.resources.values())
        done: list[Entry] = []

        def visit(entry: Entry) -> None:
            if entry in done:
                return
            for other in entries:
                if entry.urn in other.dependencies:
                    visit(other)
            done.append(entry)

        for entry in entries:
            visit(entry)
        return done

    def _adoptable(self, resource: Resource) -> str:
        """An object this stack made before the applier kept state: a network or volume
        with the stack's labels is taken into the state (a volume holds the data); a
        container of that name is replaced."""
        name = resource.plain.get("name")
        if not isinstance(name, str):
            return ""  # nothing to look up by (a Command has no name)
        if resource.type == NETWORK:
            found = [n for n in self.client.networks.list(names=[name]) if n.name == name]
            if found and found[0].attrs.get("Labels") == labels_of(resource.plain):
                return "exists with this stack's labels; taken into the state"
        if resource.type == VOLUME:
            try:
                volume = self.client.volumes.get(name)
            except docker.errors.NotFound:
                return ""
            if (volume.attrs.get("Labels") or {}) == labels_of(resource.plain):
                return "exists with this stack's labels (its data is kept); taken into the state"
        if resource.type == CONTAINER:
            try:
                container = self.client.containers.get(name)
            except docker.errors.NotFound:
                return ""
            labels = labels_of(resource.plain)
            if any(container.labels.get(k) != labels.get(k) for k in
                   ("io.lucia.project", "io.lucia.stack")):
                # Pulumi would fail on the name conflict; so do we, naming it.
                raise ApplyError(f"a container named {name} exists and is not this stack's; "
                                 "remove or rename it, then run `make up` again")
            return "this stack's container from before the state was kept; replaced"
        return ""

    # --- apply --------------------------------------------------------------------------

    def apply(self, plan: Plan, wait_timeout: float = 180) -> None:
        for step in plan.steps:
            if step.action == "delete":
                continue  # after the creates, in reverse order
            resource = step.resource
            assert resource is not None
            entry = self.state.resources.get(step.urn)
            inputs = _substitute(resource.plain, self.ids)
            if step.action == "unchanged":
                assert entry is not None
                self.ids[mock_id(resource.name)] = entry.id
                continue
            handler = {NETWORK: self._network, VOLUME: self._volume,
                       REMOTE_IMAGE: self._image, CONTAINER: self._container,
                       COMMAND: self._command, SERVICE: self._service,
                       SECRET: self._secret}[resource.type]
            real_id = handler(step, inputs, entry)
            self.ids[mock_id(resource.name)] = real_id
            checked = _substitute(resource.checked, self.ids)
            self.state.put(Entry(step.urn, resource.type, resource.name, real_id,
                                 sanitise(resource, provider.read_back(resource.type,
                                                                       checked)),
                                 list(resource.dependencies), resource.retain_on_delete))
        for step in (s for s in plan.steps if s.action == "delete"):
            if step.urn in self.state.resources:
                self._delete(self.state.resources[step.urn])
        for old in self.replaced:
            self._delete(old)
        self.replaced.clear()
        for step in plan.steps:
            if step.type == CONTAINER and step.action != "delete":
                self.wait_healthy(step.name, wait_timeout)

    def _network(self, step: Step, inputs: dict[str, Any], entry: Entry | None) -> str:
        if step.action == "import":
            return next(docker_id(n) for n in self.client.networks.list(names=[inputs["name"]])
                        if n.name == inputs["name"])
        if step.action == "replace":
            raise ApplyError(f"{inputs['name']}: a network change replaces the network, and "
                             "its containers are attached to it; take the stack down "
                             "(`make down`) and up again")
        created = self.client.networks.create(
            inputs["name"], driver=inputs.get("driver"), labels=labels_of(inputs),
            attachable=inputs.get("attachable"),
            ipam=docker.types.IPAMConfig(driver=inputs.get("ipamDriver", "default")))
        say(f"{inputs['name']}: network {step.action}d")
        return docker_id(created)

    def _volume(self, step: Step, inputs: dict[str, Any], entry: Entry | None) -> str:
        if step.action == "import":
            return docker_id(self.client.volumes.get(inputs["name"]))
        if step.action == "replace":
            raise ApplyError(f"{inputs['name']}: a volume change would replace the volume "
                             "and its data; refusing (take a backup and purge first)")
        created = self.client.volumes.create(inputs["name"], labels=labels_of(inputs))
        say(f"{inputs['name']}: volume created")
        return docker_id(created)

    def _image(self, step: Step, inputs: dict[str, Any], entry: Entry | None) -> str:
        """I funcs:343-378: a local image is used as it is; only a missing one is pulled."""
        name = inputs["name"]
        try:
            image = self.client.images.get(name)
        except docker.errors.ImageNotFound:
            say(f"{name}: not local; pulling")
            try:
                image = self.client.images.pull(name)
            except docker.errors.APIError as exc:
                raise ApplyError(f"unable to pull image {name}: {exc}") from None
        return docker_id(image)

    def _command(self, step: Step, inputs: dict[str, Any], entry: Entry | None) -> str:
        """local.Command: run `create` with /bin/sh -c (on create and on replace)."""
        interpreter = inputs.get("interpreter") or ["/bin/sh", "-c"]
        result = subprocess.run([*interpreter, inputs["create"]], capture_output=True,
                                text=True, env={**os.environ, **(inputs.get("environment")
                                                                 or {})}, check=False)
        if result.returncode:
            raise ApplyError(f"{step.name}: `{inputs['create']}` failed "
                             f"(exit {result.returncode}): {result.stderr.strip()}")
        say(f"{step.name}: ran `{inputs['create']}`")
        return entry.id if entry and step.action == "update" else f"command-{time.time_ns()}"

    def _container(self, step: Step, inputs: dict[str, Any], entry: Entry | None) -> str:
        name = inputs["name"]
        if step.action == "update":
            assert entry is not None
            assert step.diff is not None
            self._update_container(entry.id, inputs, step.diff)
            return entry.id
        if step.action == "replace":
            assert entry is not None
            # The provider's Delete reads the old state, not the new inputs.
            self._remove_container(entry.id, entry.state.get("destroyGraceSeconds"),
                                   entry.state.get("removeVolumes", True))
        elif step.action == "import":
            self._remove_container(name, inputs.get("destroyGraceSeconds"), True)

        def created(container_id: str) -> None:
            # As the provider sets the id right after ContainerCreate: a failure in
            # connect, start or wait leaves a tainted entry, replaced by the next `up`,
            # and `down` removes it.
            assert step.resource is not None
            self.state.put(Entry(step.urn, CONTAINER, name, container_id,
                                 sanitise(step.resource, inputs), list(
                                     step.resource.dependencies), tainted=True))
        return self._create_container(inputs, created)

    def _service(self, step: Step, inputs: dict[str, Any], entry: Entry | None) -> str:
        if step.action == "update":
            assert entry is not None
            services.update(self.client, entry.id, inputs)
            return entry.id
        if step.action == "replace":
            assert entry is not None
            services.remove(self.client, entry.id)
        return services.create(self.client, inputs)

    def _secret(self, step: Step, inputs: dict[str, Any], entry: Entry | None) -> str:
        if step.action == "replace":
            assert entry is not None
            # Deleted once its services use the new one. Kept in the state meanwhile under
            # its own urn (as the engine keeps a pending delete), so a run that fails
            # before then leaves a delete for the next `up`, not a lost secret.
            old = Entry(f"{entry.urn}#pending-delete-{entry.id}", entry.type, entry.name,
                        entry.id, entry.state, [], entry.retain_on_delete)
            self.state.put(old)
            self.replaced.append(old)
        return services.create_secret(self.client, inputs)

    def _update_container(self, container_id: str, inputs: dict[str, Any],
                          diff: provider.Diff) -> None:
        containers.update(self.client, container_id, inputs, diff)

    def _remove_container(self, ref: str, grace: Any, remove_volumes: bool) -> None:
        containers.remove(self.client, ref, grace, remove_volumes)

    def _create_container(self, inputs: dict[str, Any],
                          created: Callable[[str], None]) -> str:
        return containers.create(self.client, inputs, created)

    def wait_healthy(self, name: str, timeout: float) -> None:
        containers.wait_healthy(self.client, name, timeout)

    def _delete(self, entry: Entry) -> None:
        """Delete an entry's object and drop it from the state."""
        if entry.retain_on_delete:
            say(f"{entry.name}: retained on delete (still on the engine, out of the state)")
        elif entry.type == SERVICE:
            services.remove(self.client, entry.id)
        elif entry.type == SECRET:
            services.remove_secret(self.client, entry.id)
            say(f"{entry.name}: secret deleted")
        elif entry.type == CONTAINER:
            self._remove_container(entry.id, entry.state.get("destroyGraceSeconds"),
                                   entry.state.get("removeVolumes", True))
        elif entry.type == NETWORK:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.networks.get(entry.id).remove()
            say(f"{entry.name}: network deleted")
        elif entry.type == VOLUME:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.volumes.get(entry.id).remove(force=True)
            say(f"{entry.name}: volume deleted")
        # RemoteImage with keepLocally and a Command without a delete command: nothing.
        self.state.drop(entry.urn)

    def destroy(self, purge: bool = False) -> list[str]:
        """`pulumi destroy`: every resource in the state, dependents first. With purge, the
        retained volume goes too."""
        removed = []
        for entry in self._dependents_first():
            if purge and entry.type == VOLUME:
                entry.retain_on_delete = False
            if not entry.retain_on_delete and entry.type in (CONTAINER, NETWORK, VOLUME,
                                                             SERVICE, SECRET):
                removed.append(f"{entry.type.split(':')[-1].lower()} {entry.name}")
            self._delete(entry)
        return removed

def stack_containers(client: docker.DockerClient, project: str,
                     stack: str) -> list[docker.models.containers.Container]:
    return client.containers.list(all=True, filters={"label": [f"io.lucia.project={project}",
                                                               f"io.lucia.stack={stack}"]})


def sweep(client: docker.DockerClient, project: str, stack: str, purge: bool,
          grace: int = 15) -> list[str]:
    """Objects with this stack's labels that no state holds (a deployment from before the
    applier kept state, or one interrupted before its state was saved): services, secrets,
    containers and network, the volume only with purge."""
    removed = []
    labels = [f"io.lucia.project={project}", f"io.lucia.stack={stack}"]
    for service in services.stack_services(client, project, stack):
        services.remove(client, docker_id(service))
        removed.append(f"service {service.name}")
    if services.swarm_state(client) == "active":
        for secret in client.secrets.list(filters={"label": labels}):
            secret.remove()
            removed.append(f"secret {secret.name}")
    containers = stack_containers(client, project, stack)
    containers.sort(key=lambda c: c.labels.get("io.lucia.component") != "service")
    for container in containers:
        container.stop(timeout=grace)
        container.remove(force=True)
        removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": labels}):
        network.remove()
        removed.append(f"network {network.name}")
    if purge:
        for volume in client.volumes.list(filters={"label": labels}):
            volume.remove()
            removed.append(f"volume {volume.name}")
    return removed

