"""Apply recorded Pulumi resources to the local Docker engine with docker-py.

Only the resource types and properties the lucia program uses are known; any other type
or property is an error (never silently dropped), so a program change that this applier
cannot honour fails loudly instead of deploying something weaker.

Idempotent: each container carries a hash of its inputs and image id; `up` leaves an
unchanged running container alone and replaces one whose inputs or image changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

import docker
import docker.errors
import docker.types

from lucia_deploy.progress import say
from lucia_deploy.recorder import Recording, Resource

NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
CONTAINER = "docker:index/container:Container"
SPEC_LABEL = "io.lucia.spec-hash"

KNOWN = {
    NETWORK: {"name", "driver", "labels"},
    VOLUME: {"name", "labels"},
    CONTAINER: {
        "name", "image", "entrypoints", "command", "envs", "mounts", "networksAdvanced",
        "ports", "healthcheck", "labels", "stopTimeout", "destroyGraceSeconds", "wait",
        "waitTimeout", "user", "capabilities", "privileged", "readOnly", "tmpfs", "memory",
        "memorySwap", "cpus", "securityOpts", "restart", "maxRetryCount", "init",
        "logDriver", "logOpts", "networkMode", "pidMode", "ipcMode", "utsMode", "usernsMode",
    },
}
KNOWN_NESTED = {
    "mounts": {"target", "type", "source", "readOnly"},
    "networksAdvanced": {"name", "aliases"},
    "ports": {"internal", "external", "ip", "protocol"},
    "healthcheck": {"tests", "interval", "timeout", "retries", "startPeriod"},
    "capabilities": {"drops", "adds"},
    "labels": {"label", "value"},
}


class ApplyError(RuntimeError):
    pass


def check_known(resource: Resource) -> None:
    """Fail on any type or property the applier would otherwise ignore."""
    if not resource.custom:
        return  # component resources have no engine counterpart
    known = KNOWN.get(resource.type)
    if known is None:
        raise ApplyError(f"{resource.name}: resource type {resource.type} is not supported by "
                         "the docker-py applier; use the Pulumi CLI or extend apply.py")
    inputs = resource.plain
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise ApplyError(f"{resource.name}: properties {unknown} are not supported by the "
                         "docker-py applier; refusing to drop them")
    for key, allowed in KNOWN_NESTED.items():
        value = inputs.get(key)
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for item in items:
            extra = sorted(set(item) - allowed)
            if extra:
                raise ApplyError(f"{resource.name}: {key} properties {extra} are not "
                                 "supported by the docker-py applier")


def _duration_ns(text: str) -> int:
    total = 0.0
    for amount, unit in re.findall(r"([\d.]+)(ms|s|m|h)", text):
        total += float(amount) * {"ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return int(total * 1e9)


def _labels(inputs: dict[str, Any]) -> dict[str, str]:
    return {item["label"]: item["value"] for item in inputs.get("labels") or []}


def order(recording: Recording) -> list[Resource]:
    """Custom resources, each after the resources it depends on."""
    resources = [r for r in recording.resources if r.custom]
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


class Applier:
    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.changes: list[str] = []

    def apply(self, recording: Recording, wait_timeout: float = 180) -> None:
        resources = order(recording)
        for resource in resources:
            check_known(resource)
        for resource in resources:
            {NETWORK: self._network, VOLUME: self._volume,
             CONTAINER: self._container}[resource.type](resource)
        for resource in resources:
            if resource.type == CONTAINER:
                self.wait_healthy(resource.plain["name"], wait_timeout)

    # --- networks and volumes -----------------------------------------------------------

    def _network(self, resource: Resource) -> None:
        inputs = resource.plain
        name, labels = inputs["name"], _labels(inputs)
        existing = self.client.networks.list(names=[name])
        if existing:
            found = existing[0]
            if found.attrs.get("Driver") != inputs.get("driver", "bridge") or \
                    found.attrs.get("Labels", {}) != labels:
                raise ApplyError(f"network {name} exists with other settings; run "
                                 "`make down` first")
            return
        self.client.networks.create(name, driver=inputs.get("driver", "bridge"),
                                    labels=labels, check_duplicate=True)
        self.changes.append(f"created network {name}")

    def _volume(self, resource: Resource) -> None:
        inputs = resource.plain
        name = inputs["name"]
        try:
            self.client.volumes.get(name)
            return
        except docker.errors.NotFound:
            pass
        self.client.volumes.create(name, labels=_labels(inputs))
        self.changes.append(f"created volume {name}")

    # --- containers ---------------------------------------------------------------------

    def _spec_hash(self, inputs: dict[str, Any], image_id: str) -> str:
        canonical = json.dumps({"inputs": inputs, "image": image_id}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def _container(self, resource: Resource) -> None:
        inputs = resource.plain
        name = inputs["name"]
        try:
            image = self.client.images.get(inputs["image"])
        except docker.errors.ImageNotFound:
            raise ApplyError(f"{name}: image {inputs['image']} is not built or pulled") from None
        spec = self._spec_hash(inputs, image.id)
        try:
            current = self.client.containers.get(name)
        except docker.errors.NotFound:
            current = None
        if current is not None:
            if current.labels.get(SPEC_LABEL) == spec and current.status == "running":
                say(f"{name}: unchanged")
                return
            reason = "inputs or image changed" if current.labels.get(SPEC_LABEL) != spec \
                else f"was {current.status}"
            say(f"{name}: replacing ({reason})")
            current.stop(timeout=int(inputs.get("destroyGraceSeconds") or 10))
            current.remove()
            self.changes.append(f"replaced container {name}")
        else:
            self.changes.append(f"created container {name}")
        self._create(inputs, spec)

    def _create(self, inputs: dict[str, Any], spec: str) -> None:
        api = self.client.api
        name = inputs["name"]
        networks = inputs.get("networksAdvanced") or []
        ports = inputs.get("ports") or []
        caps = inputs.get("capabilities") or {}
        restart = inputs.get("restart") or "no"
        host_config = api.create_host_config(
            mounts=[docker.types.Mount(target=m["target"], source=m.get("source"),
                                       type=m["type"], read_only=bool(m.get("readOnly")))
                    for m in inputs.get("mounts") or []],
            port_bindings={f"{int(p['internal'])}/{p.get('protocol', 'tcp')}":
                           (p.get("ip", ""), int(p["external"])) for p in ports},
            read_only=bool(inputs.get("readOnly")),
            tmpfs=dict(inputs.get("tmpfs") or {}),
            cap_drop=caps.get("drops"),
            cap_add=caps.get("adds"),
            privileged=bool(inputs.get("privileged")),
            security_opt=inputs.get("securityOpts"),
            mem_limit=f"{int(inputs['memory'])}m" if inputs.get("memory") else None,
            memswap_limit=f"{int(inputs['memorySwap'])}m" if inputs.get("memorySwap") else None,
            nano_cpus=int(float(inputs["cpus"]) * 1e9) if inputs.get("cpus") else None,
            restart_policy={"Name": restart,
                            "MaximumRetryCount": int(inputs.get("maxRetryCount") or 0)},
            init=bool(inputs.get("init")),
            log_config=docker.types.LogConfig(type=inputs.get("logDriver", "json-file"),
                                              config=dict(inputs.get("logOpts") or {})),
            network_mode=inputs.get("networkMode") or (networks[0]["name"] if networks
                                                        else None),
            pid_mode=inputs.get("pidMode"),
            ipc_mode=inputs.get("ipcMode"),
            uts_mode=inputs.get("utsMode"),
            userns_mode=inputs.get("usernsMode"),
        )
        networking = api.create_networking_config({
            n["name"]: api.create_endpoint_config(aliases=n.get("aliases") or None)
            for n in networks[:1]
        }) if networks else None
        check = inputs.get("healthcheck")
        healthcheck = docker.types.Healthcheck(
            test=check["tests"], interval=_duration_ns(check.get("interval", "")),
            timeout=_duration_ns(check.get("timeout", "")),
            retries=int(check.get("retries") or 0),
            start_period=_duration_ns(check.get("startPeriod", "")),
        ) if check else None
        created = api.create_container(
            image=inputs["image"], name=name,
            entrypoint=inputs.get("entrypoints") or None,
            command=inputs.get("command") or None,
            environment=inputs.get("envs") or [],
            user=inputs.get("user") or "",
            labels={**_labels(inputs), SPEC_LABEL: spec},
            ports=[(int(p["internal"]), p.get("protocol", "tcp")) for p in ports],
            host_config=host_config,
            networking_config=networking,
            healthcheck=healthcheck,
            stop_timeout=int(inputs["stopTimeout"]) if inputs.get("stopTimeout") else None,
        )
        for extra in networks[1:]:
            api.connect_container_to_network(created["Id"], extra["name"],
                                             aliases=extra.get("aliases"))
        api.start(created["Id"])
        say(f"{name}: started")

    def wait_healthy(self, name: str, timeout: float) -> None:
        started = time.monotonic()
        last = ""
        while True:
            container = self.client.containers.get(name)
            state = container.attrs["State"]
            health = (state.get("Health") or {}).get("Status", "none")
            if state["Status"] != "running":
                logs = container.logs(tail=30).decode(errors="replace")
                raise ApplyError(f"{name} is {state['Status']} (exit {state.get('ExitCode')})"
                                 f"; last log lines:\n{logs}")
            if health in ("healthy", "none"):
                say(f"{name}: {health} after {time.monotonic() - started:.1f} s")
                return
            if health != last:
                say(f"{name}: {health} ...")
                last = health
            if time.monotonic() - started > timeout:
                logs = container.logs(tail=30).decode(errors="replace")
                raise ApplyError(f"{name} not healthy after {timeout:.0f} s ({health}); "
                                 f"last log lines:\n{logs}")
            time.sleep(0.5)


def stack_containers(client: docker.DockerClient, project: str,
                     stack: str) -> list[Any]:
    return client.containers.list(all=True, filters={"label": [f"io.lucia.project={project}",
                                                               f"io.lucia.stack={stack}"]})


def down(client: docker.DockerClient, project: str, stack: str, purge: bool) -> list[str]:
    """Remove only this stack's containers and network; its volume only with purge."""
    removed = []
    labels = [f"io.lucia.project={project}", f"io.lucia.stack={stack}"]
    containers = stack_containers(client, project, stack)
    # The service first, so it never sees its Redis vanish mid-request.
    containers.sort(key=lambda c: c.labels.get("io.lucia.component") != "service")
    for container in containers:
        container.stop(timeout=15)
        container.remove()
        removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": labels}):
        network.remove()
        removed.append(f"network {network.name}")
    if purge:
        for volume in client.volumes.list(filters={"label": labels}):
            volume.remove()
            removed.append(f"volume {volume.name}")
    return removed
