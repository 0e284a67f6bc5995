"""Redis: AOF on, noeviction below the container limit, protected mode, a password for
the default user and an ACL user for the service that cannot run destructive commands.

The configuration is written at start by a shell line that the program passes as the
entrypoint, so the same program works with the Debian-built image and with a registry
image such as redis:8.2-alpine. Passwords arrive as environment variables, never in the
image, its labels or the command line."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from lucia_stack.config import StackConfig
from lucia_stack.hardening import hardened, labels

SERVICE_USER = "lucia"
PORT = 6379
DENIED_COMMANDS = ("flushall", "flushdb", "config", "debug", "keys", "shutdown")

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


class Redis(pulumi.ComponentResource):
    def __init__(self, name: str, config: StackConfig, network: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Redis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.volume = docker.Volume(
            f"{name}-data", name=f"{name}-data",
            labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in
                    {"io.lucia.project": config.project, "io.lucia.stack": config.stack,
                     "io.lucia.component": "redis-data"}.items()],
            # Sessions are data: `pulumi destroy` must not take them with it.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        secrets = config.secrets
        envs = pulumi.Output.all(secrets["redisPassword"], secrets["redisServicePassword"]).apply(
            lambda pw: [
                f"REDIS_PASSWORD={pw[0]}",
                f"REDISCLI_AUTH={pw[0]}",  # for the image's healthcheck
                f"REDIS_SERVICE_USER={SERVICE_USER}",
                f"REDIS_SERVICE_PASSWORD={pw[1]}",
                f"REDIS_APPENDFSYNC={config.redisAppendfsync}",
                f"REDIS_MAXMEMORY_MB={config.redis_maxmemory_mb}",
            ])
        image = config.redis_image
        ports = []
        if config.redisPublishPort:
            ports.append(docker.ContainerPortArgs(internal=PORT, external=config.redisPublishPort,
                                                  ip="127.0.0.1"))          # CIS 5.14
        self.container = docker.Container(
            f"{name}",
            name=name,
            image=image,
            entrypoints=["/bin/sh", "-c", BOOT_SCRIPT],
            envs=envs,
            mounts=[docker.ContainerMountArgs(target="/data", type="volume",
                                              source=self.volume.name)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network,
                                                                    aliases=["redis"])],
            ports=ports,
            healthcheck=docker.ContainerHealthcheckArgs(                     # CIS 5.27
                tests=["CMD-SHELL", "redis-cli ping | grep -q PONG"],
                interval="5s", timeout="3s", retries=5, start_period="5s"),
            labels=labels(config.project, config.stack, "redis"),
            stop_timeout=10,
            **hardened(user="redis", cpus=config.redisCpus, memory_mb=config.redisMemoryMb,
                       tmpfs_mb=16, restart=config.restartPolicy,
                       max_retries=config.restartMaxRetries, log_max_size=config.logMaxSize,
                       log_max_files=config.logMaxFiles),
            opts=child,
        )
        self.name = self.container.name
        self.register_outputs({"name": self.name, "volume": self.volume.name})
