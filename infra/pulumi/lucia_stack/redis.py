"""Redis: AOF on, noeviction below the container limit, protected mode, a password for
the default user and an ACL user for the service that cannot run destructive commands.

The configuration is written at start by a shell line that the program passes as the
entrypoint, so the same program works with the Debian-built image and with a registry
image such as redis:8.2-alpine. Passwords arrive as environment variables, never in the
image, its labels or the command line."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from lucia_stack.hardening import ContainerArgs, HardenedContainer, RuntimeArgs

SERVICE_USER = "lucia"
PORT = 6379
DENIED_COMMANDS = ("flushall", "flushdb", "config", "debug", "keys", "shutdown")
# SIGTERM makes Redis fsync its AOF and exit; give it time before any SIGKILL.
STOP_GRACE_SECONDS = 10

# One conf line per printf argument; `exec` so redis-server is PID 1's child via init.
BOOT_SCRIPT = (
    "set -eu; umask 077; printf '%s\\n' "
    '"port 6379" "bind 0.0.0.0" "protected-mode yes" "dir /data" '
    '"appendonly yes" "appendfsync $REDIS_APPENDFSYNC" '
    '"maxmemory ${REDIS_MAXMEMORY_MB}mb" "maxmemory-policy noeviction" '
    '"requirepass $REDIS_PASSWORD" '
    '"user $REDIS_SERVICE_USER on >$REDIS_SERVICE_PASSWORD ~lucia:* resetchannels +@all '
    + " ".join(f"-{command}" for command in DENIED_COMMANDS) + '" '
    "> /tmp/redis.conf; exec redis-server /tmp/redis.conf"
)


def data_volume(name: str, project: str, stack: str,
                parent: pulumi.Resource) -> docker.Volume:
    """Redis's named volume, whichever engine runs Redis."""
    return docker.Volume(
        name, name=name,
        labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in
                {"io.lucia.project": project, "io.lucia.stack": stack,
                 "io.lucia.component": "redis-data"}.items()],
        # Sessions are data: `pulumi destroy` must not take them with it.
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True),
    )


@dataclass(frozen=True, slots=True)
class RedisArgs:
    project: str
    stack: str
    image: str
    network: pulumi.Input[str]
    password: pulumi.Input[str]
    service_password: pulumi.Input[str]
    appendfsync: str
    maxmemory_mb: int
    memory_mb: int
    cpus: float
    pids_limit: int
    publish_port: int  # 0: not published
    runtime: RuntimeArgs


class Redis(pulumi.ComponentResource):
    def __init__(self, name: str, args: RedisArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Redis", name, None, opts)
        self.volume = data_volume(f"{name}-data", args.project, args.stack, parent=self)
        envs = pulumi.Output.all(args.password, args.service_password).apply(lambda pw: [
            f"REDIS_PASSWORD={pw[0]}",
            f"REDISCLI_AUTH={pw[0]}",  # for the image's healthcheck
            f"REDIS_SERVICE_USER={SERVICE_USER}",
            f"REDIS_SERVICE_PASSWORD={pw[1]}",
            f"REDIS_APPENDFSYNC={args.appendfsync}",
            f"REDIS_MAXMEMORY_MB={args.maxmemory_mb}",
        ])
        ports = []
        if args.publish_port:
            ports.append(docker.ContainerPortArgs(internal=PORT, external=args.publish_port,
                                                  ip="127.0.0.1"))          # CIS 5.14
        self.hardened = HardenedContainer(ContainerArgs(
            name=name, component="redis", project=args.project, stack=args.stack,
            image=args.image, user="redis", cpus=args.cpus, memory_mb=args.memory_mb,
            pids_limit=args.pids_limit, tmpfs_mb=16, network=args.network,
            aliases=["redis"], runtime=args.runtime, stop_grace_seconds=STOP_GRACE_SECONDS,
            entrypoints=["/bin/sh", "-c", BOOT_SCRIPT], envs=envs, ports=ports,
            mounts=[docker.ContainerMountArgs(target="/data", type="volume",
                                              source=self.volume.name)],
            healthcheck=docker.ContainerHealthcheckArgs(                     # CIS 5.27
                tests=["CMD-SHELL", "redis-cli ping | grep -q PONG"],
                interval="5s", timeout="3s", retries=5, start_period="5s"),
        ), opts=pulumi.ResourceOptions(parent=self))
        self.container = self.hardened.container
        self.name = self.container.name
        self.register_outputs({"name": self.name, "volume": self.volume.name})
