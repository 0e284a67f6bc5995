"""Each rule: a CIS id, the CIS title, and a check over a resource's inputs (camelCase,
as the engine sends them) that returns the violations it finds.

Rules are plain functions so they run in two places: inside the CrossGuard pack under
`pulumi up`, and in the tests on the inputs captured by the mocks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONTAINER = "docker:index/container:Container"
SERVICE = "docker:index/service:Service"
NETWORK = "docker:index/network:Network"
COMMAND = "command:local:Command"
CIS_VERSION = "1.6.0"

Inputs = dict[str, Any]
# The Docker socket has its own rule (5.32), so it is not repeated here.
SENSITIVE_HOST_PATHS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr",
                        "/var/lib/docker")


@dataclass(frozen=True, slots=True)
class Rule:
    cis_id: str
    name: str
    title: str
    resource_type: str
    check: Callable[[Inputs], list[str]]
    remediation: str

    @property
    def policy_name(self) -> str:
        return f"cis-{self.cis_id.replace('.', '-')}-{self.name}"


def _capabilities(inputs: Inputs) -> list[str]:
    caps = inputs.get("capabilities") or {}
    problems = []
    if "ALL" not in [c.upper() for c in caps.get("drops") or []]:
        problems.append("capabilities.drops does not contain ALL")
    if caps.get("adds"):
        problems.append(f"capabilities.adds grants {caps['adds']}")
    return problems


def _privileged(inputs: Inputs) -> list[str]:
    return ["privileged is true"] if inputs.get("privileged") else []


def _sensitive_mounts(inputs: Inputs) -> list[str]:
    problems = []
    for mount in inputs.get("mounts") or []:
        if mount.get("type") == "bind" and str(mount.get("source", "")).rstrip("/") in \
                (*SENSITIVE_HOST_PATHS, ""):
            problems.append(f"bind mount of host path {mount.get('source')!r}")
    for volume in inputs.get("volumes") or []:
        if volume.get("hostPath"):
            problems.append(f"host path volume {volume['hostPath']!r}")
    return problems


def _ports(inputs: Inputs) -> list[str]:
    problems = []
    for port in inputs.get("ports") or []:
        external = port.get("external")
        if external is not None and float(external) <= 1024:
            problems.append(f"host port {int(float(external))} is privileged (<= 1024)")
    if inputs.get("publishAllPorts"):
        problems.append("publishAllPorts publishes every exposed port")
    return problems


def _bound_interface(inputs: Inputs) -> list[str]:
    return [f"port {int(float(p.get('internal', 0)))} is published on "
            f"{p.get('ip') or '0.0.0.0'}, not 127.0.0.1"
            for p in inputs.get("ports") or [] if p.get("ip") != "127.0.0.1"]


def _host_mode(key: str) -> Callable[[Inputs], list[str]]:
    def check(inputs: Inputs) -> list[str]:
        return [f"{key} is host"] if inputs.get(key) == "host" else []
    return check


def _memory(inputs: Inputs) -> list[str]:
    return [] if inputs.get("memory") else ["memory limit is not set"]


def _cpu(inputs: Inputs) -> list[str]:
    return [] if inputs.get("cpus") or inputs.get("cpuShares") else ["no CPU limit or shares"]


def _read_only(inputs: Inputs) -> list[str]:
    return [] if inputs.get("readOnly") is True else ["readOnly is not true"]


def _tmpfs(inputs: Inputs) -> list[str]:
    problems = []
    for path, options in (inputs.get("tmpfs") or {}).items():
        missing = {"noexec", "nosuid", "nodev"} - set(str(options).split(","))
        if missing:
            problems.append(f"tmpfs {path} lacks {', '.join(sorted(missing))}")
    return problems


# CIS 5.15 wants on-failure with at most 5 retries. A stack that must come back after a
# host reboot documents its exception here (and in docs/deployment.md); no other stack,
# and no other policy (`always` restarts a container an operator stopped), is allowed.
RESTART_EXCEPTIONS = {"dev": "unless-stopped", "homelab": "unless-stopped"}


def restart_problems(stack: str, policy: str, retries: float) -> list[str]:
    """What is wrong with a restart policy for this stack (shared with the gate)."""
    if policy == "on-failure":
        return [] if 0 < retries <= 5 else [f"on-failure with {retries:g} retries, not 1-5"]
    if RESTART_EXCEPTIONS.get(stack) == policy:
        return []
    return [f"restart policy {policy!r} on stack {stack!r}; CIS 5.15 wants on-failure:5"
            + (f" (this stack's documented exception is {RESTART_EXCEPTIONS[stack]!r})"
               if stack in RESTART_EXCEPTIONS else "")]


def _restart(inputs: Inputs) -> list[str]:
    labels = {item.get("label"): item.get("value") for item in inputs.get("labels") or []}
    return restart_problems(str(labels.get("io.lucia.stack", "")),
                            str(inputs.get("restart") or "no"),
                            float(inputs.get("maxRetryCount") or 0))


def _devices(inputs: Inputs) -> list[str]:
    return [f"host device {d.get('hostPath')}" for d in inputs.get("devices") or []]


def _propagation(inputs: Inputs) -> list[str]:
    return [f"mount {m.get('target')} propagation {m['bindOptions']['propagation']}"
            for m in inputs.get("mounts") or []
            if (m.get("bindOptions") or {}).get("propagation") in ("shared", "rshared")]


def _unconfined(kind: str) -> Callable[[Inputs], list[str]]:
    """A security option that turns `kind` (apparmor or seccomp) off."""
    def check(inputs: Inputs) -> list[str]:
        return [f"security option {opt}" for opt in inputs.get("securityOpts") or []
                if opt.replace("=", ":") == f"{kind}:unconfined"]
    return check


def _no_new_privileges(inputs: Inputs) -> list[str]:
    opts = [o.replace("=", ":") for o in inputs.get("securityOpts") or []]
    return [] if "no-new-privileges:true" in opts or "no-new-privileges" in opts else [
        "securityOpts lacks no-new-privileges:true"]


def _healthcheck(inputs: Inputs) -> list[str]:
    tests = (inputs.get("healthcheck") or {}).get("tests") or []
    return [] if tests and tests[0] != "NONE" else ["no healthcheck"]


def _default_bridge(inputs: Inputs) -> list[str]:
    """What Docker ends up with, as the provider creates it: the container is created on
    `networkMode` (default "bridge"), then, when networksAdvanced is set, disconnected from
    "bridge" and connected to each listed network only (kreuzwerker v4.5.0
    resource_docker_container_funcs.go:462-501). So the default bridge is left in use when
    networksAdvanced is empty, when it lists a default network itself, or when
    networkMode names one the provider does not disconnect."""
    networks = inputs.get("networksAdvanced") or []
    mode = inputs.get("networkMode") or "bridge"
    if mode == "host":
        return []  # CIS 5.10's rule says so; one weakening, one violation
    if not networks:
        return [f"networkMode {mode!r} with no networksAdvanced: stays on the default bridge"]
    problems = [f"networksAdvanced lists the default network {n.get('name')!r}"
                for n in networks if n.get("name") in ("bridge", "docker0", "host", "none")]
    if mode not in ("bridge", "default"):
        problems.append(f"networkMode {mode!r} is kept beside networksAdvanced (the provider "
                        "only disconnects 'bridge')")
    return problems


def _docker_socket(inputs: Inputs) -> list[str]:
    sources = [str(m.get("source", "")) for m in inputs.get("mounts") or []]
    sources += [str(v.get("hostPath", "")) for v in inputs.get("volumes") or []]
    return [f"mounts {s}" for s in sources if s.endswith("docker.sock")]


def _non_root(inputs: Inputs) -> list[str]:
    user = str(inputs.get("user") or "")
    return [] if user and user.split(":")[0] not in ("root", "0") else [
        f"user is {user or 'unset (root)'}"]


def _network_driver(inputs: Inputs) -> list[str]:
    """The stack's own network: a user-defined bridge, or for the swarm engine an overlay
    (never the ingress network, which is Swarm's routing mesh)."""
    driver = inputs.get("driver") or "bridge"
    if inputs.get("ingress"):
        return ["ingress is true: Swarm's routing mesh, not the stack's own network"]
    return [] if driver in ("bridge", "overlay") else [f"driver {driver}"]


# --- Swarm services: the same CIS ids over docker.Service's task spec -------------------

def _spec(inputs: Inputs) -> Inputs:
    return (inputs.get("taskSpec") or {}).get("containerSpec") or {}


def _limits(inputs: Inputs) -> Inputs:
    return ((inputs.get("taskSpec") or {}).get("resources") or {}).get("limits") or {}


def _service_non_root(inputs: Inputs) -> list[str]:
    return _non_root(_spec(inputs))


def _service_capabilities(inputs: Inputs) -> list[str]:
    spec = _spec(inputs)
    return _capabilities({"capabilities": {"drops": spec.get("capDrops"),
                                           "adds": spec.get("capAdds")}})


def _service_mounts(inputs: Inputs) -> list[str]:
    return _sensitive_mounts(_spec(inputs))


def _service_docker_socket(inputs: Inputs) -> list[str]:
    return _docker_socket(_spec(inputs))


def _service_memory(inputs: Inputs) -> list[str]:
    return [] if _limits(inputs).get("memoryBytes") else ["limits.memoryBytes is not set"]


def _service_cpu(inputs: Inputs) -> list[str]:
    return [] if _limits(inputs).get("nanoCpus") else ["limits.nanoCpus is not set"]


def _service_read_only(inputs: Inputs) -> list[str]:
    return _read_only(_spec(inputs))


def _service_published(inputs: Inputs) -> list[str]:
    """Swarm publishes a port on every address of every node (the routing mesh, or
    `mode: host` on 0.0.0.0): no service port can be bound to 127.0.0.1, so none may be
    published; the edge container publishes on 127.0.0.1 instead."""
    return [f"publishes port {p.get('targetPort')} on every address"
            for p in (inputs.get("endpointSpec") or {}).get("ports") or []]


def _service_restart(inputs: Inputs) -> list[str]:
    policy = (inputs.get("taskSpec") or {}).get("restartPolicy") or {}
    condition = policy.get("condition") or "any"
    attempts = float(policy.get("maxAttempts") or 0)
    if condition == "on-failure" and 0 < attempts <= 5:
        return []
    return [f"restartPolicy {condition} with maxAttempts {attempts:g}; CIS 5.15 wants "
            "on-failure with 1-5"]


def _service_healthcheck(inputs: Inputs) -> list[str]:
    return _healthcheck(_spec(inputs))


def _service_network(inputs: Inputs) -> list[str]:
    networks = (inputs.get("taskSpec") or {}).get("networksAdvanceds") or []
    if not networks:
        return ["no networksAdvanceds: tasks would join only Swarm's ingress"]
    return [f"networksAdvanceds lists {n.get('id') or n.get('name')!r}" for n in networks
            if {n.get("id"), n.get("name")} & {"bridge", "docker0", "host", "none", "ingress"}]


RULES: tuple[Rule, ...] = (
    Rule("4.1", "non-root-user", "Ensure that a user for the container has been created",
         CONTAINER, _non_root, "run as a non-root user (user: '1000:1000' or 'redis')"),
    Rule("5.2", "apparmor-not-unconfined",
         "Ensure that, if applicable, an AppArmor Profile is enabled", CONTAINER,
         _unconfined("apparmor"), "remove apparmor:unconfined"),
    Rule("5.4", "capabilities-dropped",
         "Ensure that Linux kernel capabilities are restricted within containers",
         CONTAINER, _capabilities, "capabilities: {drops: [ALL]} and no adds"),
    Rule("5.5", "not-privileged", "Ensure that privileged containers are not used",
         CONTAINER, _privileged, "privileged: false"),
    Rule("5.6", "no-sensitive-host-mounts",
         "Ensure sensitive host system directories are not mounted on containers",
         CONTAINER, _sensitive_mounts, "use named volumes, not host directories"),
    Rule("5.8", "no-privileged-ports",
         "Ensure privileged ports are not mapped within containers", CONTAINER, _ports,
         "publish on a host port above 1024"),
    Rule("5.10", "no-host-network",
         "Ensure that the host's network namespace is not shared", CONTAINER,
         _host_mode("networkMode"), "attach to the stack network, not networkMode: host"),
    Rule("5.11", "memory-limited", "Ensure that the memory usage for containers is limited",
         CONTAINER, _memory, "set memory (MB)"),
    Rule("5.12", "cpu-limited", "Ensure that CPU priority is set appropriately on containers",
         CONTAINER, _cpu, "set cpus"),
    Rule("5.13", "read-only-rootfs",
         "Ensure that the container's root filesystem is mounted as read only", CONTAINER,
         _read_only, "readOnly: true, with tmpfs for scratch space"),
    Rule("5.13", "tmpfs-hardened",
         "Ensure that the container's root filesystem is mounted as read only (tmpfs "
         "allow-list)", CONTAINER, _tmpfs, "mount tmpfs with noexec,nosuid,nodev"),
    Rule("5.14", "bound-to-loopback",
         "Ensure that incoming container traffic is bound to a specific host interface",
         CONTAINER, _bound_interface, "publish ports with ip: 127.0.0.1"),
    Rule("5.15", "restart-policy",
         "Ensure that the 'on-failure' container restart policy is set to '5'", CONTAINER,
         _restart, "restart: on-failure with maxRetryCount 5 (unless-stopped only where "
         "RESTART_EXCEPTIONS documents it)"),
    Rule("5.16", "no-host-pid", "Ensure that the host's process namespace is not shared",
         CONTAINER, _host_mode("pidMode"), "leave pidMode unset"),
    Rule("5.17", "no-host-ipc", "Ensure that the host's IPC namespace is not shared",
         CONTAINER, _host_mode("ipcMode"), "leave ipcMode unset"),
    Rule("5.18", "no-host-devices",
         "Ensure that host devices are not directly exposed to containers", CONTAINER,
         _devices, "remove devices"),
    Rule("5.20", "no-shared-propagation", "Ensure mount propagation mode is not set to shared",
         CONTAINER, _propagation, "use private propagation"),
    Rule("5.22", "seccomp-not-disabled", "Ensure the default seccomp profile is not Disabled",
         CONTAINER, _unconfined("seccomp"), "remove seccomp:unconfined"),
    Rule("5.26", "no-new-privileges",
         "Ensure that the container is restricted from acquiring additional privileges",
         CONTAINER, _no_new_privileges, "securityOpts: [no-new-privileges:true]"),
    Rule("5.27", "healthcheck", "Ensure that container health is checked at runtime",
         CONTAINER, _healthcheck, "set healthcheck.tests"),
    Rule("5.30", "not-default-bridge",
         "Ensure that Docker's default bridge 'docker0' is not used", CONTAINER,
         _default_bridge, "attach to the stack's own network via networksAdvanced"),
    Rule("5.30", "bridge-network-driver",
         "Ensure that Docker's default bridge 'docker0' is not used (own bridge network)",
         NETWORK, _network_driver, "use a user-defined bridge (or, for swarm, overlay) "
         "network"),
    Rule("5.31", "no-host-userns", "Ensure that the host's user namespaces are not shared",
         CONTAINER, _host_mode("usernsMode"), "leave usernsMode unset"),
    Rule("5.32", "no-docker-socket",
         "Ensure that the Docker socket is not mounted inside any containers", CONTAINER,
         _docker_socket, "never mount docker.sock"),
    # Swarm services (lucia_stack/swarm.py). Not expressible for a service on Docker
    # 20.10 (API 1.41), so not rules here: privileged (5.5: services cannot be),
    # AppArmor/seccomp options (5.2, 5.22: the defaults apply), no-new-privileges (5.26:
    # the daemon's setting, checked by the deploy tool's preflight and the gate), host
    # PID/IPC/user namespaces and devices (5.16-5.18, 5.31: no such service inputs).
    Rule("4.1", "service-non-root-user", "Ensure that a user for the container has been "
         "created", SERVICE, _service_non_root, "taskSpec.containerSpec.user non-root"),
    Rule("5.4", "service-capabilities-dropped", "Ensure that Linux kernel capabilities are "
         "restricted within containers", SERVICE, _service_capabilities,
         "taskSpec.containerSpec.capDrops: [ALL] and no capAdds"),
    Rule("5.6", "service-no-sensitive-host-mounts", "Ensure sensitive host system "
         "directories are not mounted on containers", SERVICE, _service_mounts,
         "use named volumes, not host directories"),
    Rule("5.11", "service-memory-limited", "Ensure that the memory usage for containers "
         "is limited", SERVICE, _service_memory, "taskSpec.resources.limits.memoryBytes"),
    Rule("5.12", "service-cpu-limited", "Ensure that CPU priority is set appropriately on "
         "containers", SERVICE, _service_cpu, "taskSpec.resources.limits.nanoCpus"),
    Rule("5.13", "service-read-only-rootfs", "Ensure that the container's root filesystem "
         "is mounted as read only", SERVICE, _service_read_only,
         "taskSpec.containerSpec.readOnly: true, with a tmpfs mount for scratch space"),
    Rule("5.14", "service-not-published", "Ensure that incoming container traffic is bound "
         "to a specific host interface", SERVICE, _service_published,
         "publish nothing from the swarm; the edge container publishes on 127.0.0.1"),
    Rule("5.15", "service-restart-policy", "Ensure that the 'on-failure' container restart "
         "policy is set to '5'", SERVICE, _service_restart,
         "taskSpec.restartPolicy: on-failure with maxAttempts 1-5"),
    Rule("5.27", "service-healthcheck", "Ensure that container health is checked at "
         "runtime", SERVICE, _service_healthcheck, "taskSpec.containerSpec.healthcheck"),
    Rule("5.30", "service-own-network", "Ensure that Docker's default bridge 'docker0' is "
         "not used", SERVICE, _service_network,
         "taskSpec.networksAdvanceds: the stack's own overlay"),
    Rule("5.32", "service-no-docker-socket", "Ensure that the Docker socket is not mounted "
         "inside any containers", SERVICE, _service_docker_socket,
         "never mount docker.sock"),
)

# CIS 5.21 (host UTS namespace): the Container resource has no UTS mode input at all
# (pulumi-docker 5.x schema), so no program can share it; the hardening gate checks
# UTSMode on the running containers.


PIDS_LIMIT_COMMAND = re.compile(r"^docker update --pids-limit (\d+) (\S+)$")
SERVICE_PIDS_LIMIT_COMMAND = re.compile(
    r"^docker service update --quiet --detach=false --limit-pids (\d+) (\S+)$")


def _pids_limits(resources: list[StackResource]) -> list[str]:
    """Every container has a command that sets its PIDs limit once it exists, and runs
    again whenever it is replaced (it depends on the container)."""
    limits: dict[str, int] = {}
    for resource in resources:
        create = str(resource.props.get("create") or "")
        found = (PIDS_LIMIT_COMMAND.match(create) or SERVICE_PIDS_LIMIT_COMMAND.match(create)) \
            if resource.resource_type == COMMAND else None
        # It must depend on the container (run after it exists) and be triggered by it
        # (run again when it is replaced); a trigger is the container's id, unknown in a
        # preview.
        if found and resource.depends_on_container(found.group(2)) and \
                resource.props.get("triggers"):
            limits[found.group(2)] = int(found.group(1))
    problems = []
    for resource in resources:
        if resource.resource_type not in (CONTAINER, SERVICE):
            continue
        name = resource.props.get("name") or resource.name
        if name not in limits:
            how = ("docker update --pids-limit N" if resource.resource_type == CONTAINER else
                   "docker service update --quiet --detach=false --limit-pids N")
            problems.append(f"{name}: no `{how} {name}` command that depends on it and is "
                            "triggered by its id")
        elif limits[name] <= 0:
            problems.append(f"{name}: PIDs limit {limits[name]} is not a limit")
    return problems


@dataclass(frozen=True, slots=True)
class StackResource:
    """A resource as a stack policy sees it: type, name, props and what it depends on."""

    resource_type: str
    name: str
    props: Inputs
    dependency_names: tuple[str, ...] = ()

    def depends_on_container(self, container: str) -> bool:
        return container in self.dependency_names


@dataclass(frozen=True, slots=True)
class StackRule:
    cis_id: str
    name: str
    title: str
    check: Callable[[list[StackResource]], list[str]]
    remediation: str

    @property
    def policy_name(self) -> str:
        return f"cis-{self.cis_id.replace('.', '-')}-{self.name}"


STACK_RULES: tuple[StackRule, ...] = (
    StackRule("5.29", "pids-limit", "Ensure that the PIDs cgroup limit is used",
              _pids_limits, "add a pulumi_command local.Command running `docker update "
              "--pids-limit N <container>` triggered by the container id "
              "(lucia_stack.hardening.HardenedContainer)"),
)


@dataclass(frozen=True, slots=True)
class Violation:
    policy: str
    cis_id: str
    resource: str
    message: str
    remediation: str

    def __str__(self) -> str:
        return (f"CIS {self.cis_id} {self.policy}: {self.resource}: {self.message} "
                f"(fix: {self.remediation})")
