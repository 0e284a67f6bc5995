"""Container hardening, written once. Each setting carries its CIS Docker Benchmark
v1.6.0 id, so `grep 5.13` finds the setting here, the policy and the gate test.

`HardenedContainer` is the one way the program makes a container: the hardened inputs,
the image referenced by id (so a rebuilt image replaces the container under both deploy
paths), a stop grace on destroy, and the PIDs limit that pulumi-docker cannot express."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from lucia_stack.cpus import provider_cpus

CIS_VERSION = "1.6.0"
TMPFS_OPTIONS = "rw,noexec,nosuid,nodev"
# Inputs the provider neither updates in place nor replaces on (a change would be saved in
# the state and never reach the container), so we ask the engine to replace on them.
REPLACE_ON_CHANGES = ["tmpfs", "healthcheck", "init"]


@dataclass(frozen=True, slots=True)
class RuntimeArgs:
    """What every container of a stack shares: restart policy and log rotation."""

    restart: str
    max_retries: int
    log_max_size: str
    log_max_files: int


@dataclass(frozen=True, slots=True)
class WorkloadArgs:
    """What every hardened workload has, container or Swarm service: identity, image,
    user, limits, scratch space and its names on the stack network."""

    name: str
    component: str
    project: str
    stack: str
    image: str
    user: str
    cpus: float
    memory_mb: int
    pids_limit: int
    tmpfs_mb: int
    aliases: list[str]


@dataclass(frozen=True, slots=True)
class ContainerArgs(WorkloadArgs):
    """One hardened container: the workload, its network and what it runs."""

    network: pulumi.Input[str]
    healthcheck: docker.ContainerHealthcheckArgs
    runtime: RuntimeArgs
    # SIGTERM, then this long before SIGKILL, on stop and on destroy/replace.
    stop_grace_seconds: int
    envs: pulumi.Input[list[str]] | None = None
    entrypoints: list[str] | None = None
    command: list[str] | None = None
    ports: list[docker.ContainerPortArgs] | None = None
    mounts: list[docker.ContainerMountArgs] | None = None
    wait_seconds: int = 0  # >0: the provider waits for healthy on create


class HardenedSettings(TypedDict):
    """The `docker.Container` keyword arguments `hardened` gives, typed as the resource
    takes them."""

    user: str
    capabilities: docker.ContainerCapabilitiesArgs
    privileged: bool
    read_only: bool
    tmpfs: dict[str, str]
    memory: int
    memory_swap: int
    cpus: str
    security_opts: list[str]
    restart: str
    init: bool
    log_driver: str
    log_opts: dict[str, str]
    stop_timeout: int
    destroy_grace_seconds: int
    max_retry_count: NotRequired[int]
    wait: NotRequired[bool]
    wait_timeout: NotRequired[int]


def hardened(args: ContainerArgs) -> HardenedSettings:
    """Keyword arguments for `docker.Container` that every lucia container gets."""
    settings: HardenedSettings = {
        "user": args.user,                                            # CIS 4.1 non-root
        "capabilities": docker.ContainerCapabilitiesArgs(drops=["ALL"]),  # CIS 5.4
        "privileged": False,                                          # CIS 5.5
        "read_only": True,                                            # CIS 5.13
        "tmpfs": {"/tmp": f"{TMPFS_OPTIONS},size={args.tmpfs_mb}m"},  # CIS 5.13 writable /tmp
        "memory": args.memory_mb,                                     # CIS 5.11
        "memory_swap": args.memory_mb,                                # CIS 5.11 no extra swap
        "cpus": provider_cpus(args.cpus),           # CIS 5.12, as Read writes it back
        "security_opts": ["no-new-privileges:true"],                  # CIS 5.26
        "restart": args.runtime.restart,                              # CIS 5.15
        "init": True,             # reaps zombies and forwards SIGTERM to the app
        "log_driver": "json-file",
        "log_opts": {"max-size": args.runtime.log_max_size,
                     "max-file": str(args.runtime.log_max_files)},
        # CIS 5.10/5.16/5.17/5.31: no host network, PID, IPC or user namespace; the
        # defaults are private, and the policies reject any host mode. (The Container
        # resource has no UTS mode input, so 5.21 is checked on the running container.)
        # CIS 5.30: created on the default network_mode "bridge", then the provider
        # disconnects it from bridge and connects it to networks_advanced only.
        "stop_timeout": args.stop_grace_seconds,
        "destroy_grace_seconds": args.stop_grace_seconds,
    }
    if args.runtime.restart == "on-failure":
        settings["max_retry_count"] = args.runtime.max_retries        # CIS 5.15
    if args.wait_seconds:
        settings["wait"] = True
        settings["wait_timeout"] = args.wait_seconds
    return settings


class HardenedContainer(pulumi.ComponentResource):
    """A hardened container, its image by id and its PIDs limit (CIS 5.29)."""

    def __init__(self, args: ContainerArgs, opts: pulumi.ResourceOptions | None = None,
                 depends_on: list[pulumi.Resource] | None = None) -> None:
        super().__init__("lucia:stack:HardenedContainer", args.name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The image by id: a rebuild under the same tag gives a new id, which replaces the
        # container (`pulumi up --refresh` reads the new id; keep_locally: never delete
        # images on destroy, they are built here, not pulled).
        self.image = docker.RemoteImage(f"{args.name}-image", name=args.image,
                                        keep_locally=True, opts=child)
        # envs, entrypoints, command, mounts: None leaves an input unset, as leaving it out
        # does (the resource's own defaults are None).
        self.container = docker.Container(
            args.name,
            name=args.name,
            image=self.image.image_id,
            ports=args.ports or [],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(
                name=args.network, aliases=args.aliases)],
            healthcheck=args.healthcheck,                                    # CIS 5.27
            labels=labels(args.project, args.stack, args.component),
            envs=args.envs,
            entrypoints=args.entrypoints,
            command=args.command,
            mounts=args.mounts,
            **hardened(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on,
                                        replace_on_changes=REPLACE_ON_CHANGES),
        )
        # CIS 5.29: pulumi-docker's Container has no pids_limit; `docker update` sets it on
        # the running container (Docker keeps it across restarts). It runs again whenever
        # the container is created or replaced (its id is a trigger).
        self.pids_limit = command.local.Command(
            f"{args.name}-pids-limit",
            create=f"docker update --pids-limit {args.pids_limit} {args.name}",
            triggers=[self.container.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        self.name = self.container.name
        self.register_outputs({"name": self.name, "image_id": self.image.image_id})


def labels(project: str, stack: str, component: str) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in
            label_map(project, stack, component).items()]


def label_map(project: str, stack: str, component: str) -> dict[str, str]:
    return {"io.lucia.project": project, "io.lucia.stack": stack,
            "io.lucia.component": component}
