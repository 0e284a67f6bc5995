"""The swarm engine's stack (docs/swarm.md): the secrets, Redis and the service as Swarm
services on the stack's attachable overlay, and the edge container publishing them on
127.0.0.1. program.build() calls it with what every engine shares."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_docker as docker

from lucia_stack import redis, swarm
from lucia_stack.config import EDGE_IMAGE, StackConfig
from lucia_stack.hardening import ContainerArgs, HardenedContainer, RuntimeArgs
from lucia_stack.network import Network
from lucia_stack.service import CONTAINER_PORT, STOP_GRACE_SECONDS
from lucia_stack.wiring import Wiring, wire

EDGE_PORT = 8080           # the edge's listening port inside its container
EDGE_STOP_GRACE_SECONDS = 5
EDGE_PIDS_LIMIT = 64
SERVICE_UID = "1000"


def build(config: StackConfig, network: Network,
          runtime: RuntimeArgs) -> tuple[dict[str, Any], Wiring]:
    s, secrets = config.settings, config.secrets
    wiring = wire(config, network, runtime)
    values = {key: wiring.secrets[key] for key in sorted(wiring.present)}
    values["redisPassword"] = secrets["redisPassword"]
    stack_secrets = swarm.StackSecrets(f"{config.prefix}-secret", config.project,
                                       config.stack, values)
    holder = pulumi.ComponentResource("lucia:stack:SwarmRedis", f"{config.prefix}-redis")
    holder.register_outputs({})
    volume = redis.data_volume(f"{config.prefix}-redis-data", config.project, config.stack,
                               parent=holder)
    redis_service = swarm.HardenedService(swarm.TaskArgs(
        name=f"{config.prefix}-redis", component="redis", project=config.project,
        stack=config.stack, image=config.redis_image, user="redis", cpus=s.redisCpus,
        memory_mb=s.redisMemoryMb, pids_limit=s.redisPidsLimit, tmpfs_mb=16,
        network_id=network.id, aliases=["redis"], replicas=1, update_order="stop-first",
        stop_grace_seconds=redis.STOP_GRACE_SECONDS, max_attempts=s.restartMaxRetries,
        log_max_size=s.logMaxSize, log_max_files=s.logMaxFiles,
        # The files are root's, readable by the task's one user: Redis's UID is the
        # image's (100 in lucia-redis, 999 in redis:alpine), unknown to the program.
        secrets=stack_secrets.mounts(swarm.REDIS_SECRETS, uid="0", gid="0", mode=0o444),
        env={"REDIS_SERVICE_USER": redis.SERVICE_USER,
             "REDIS_APPENDFSYNC": s.redisAppendfsync,
             "REDIS_MAXMEMORY_MB": str(config.redis_maxmemory_mb)},
        commands=["/bin/sh", "-c", swarm.redis_boot_script()],
        mounts=[docker.ServiceTaskSpecContainerSpecMountArgs(
            target="/data", type="volume", source=volume.name)],
        constraints=[s.redisPlacement],
        healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(     # CIS 5.27
            tests=swarm.REDIS_HEALTHCHECK, interval="5s", timeout="3s", retries=5,
            start_period="5s"),
    ), opts=pulumi.ResourceOptions(parent=holder))
    env = {
        "LUCIA_PORT": str(CONTAINER_PORT),
        "LUCIA_LOG_LEVEL": s.logLevel,
        "REDIS_URL": f"redis://redis:{redis.PORT}/0",
        "REDIS_USERNAME": redis.SERVICE_USER,
        "HomeAssistant__BaseUrl": wiring.home_assistant_url,
        **s.serviceEnvironment,
        # Secrets as files only (lucia/settings.py SecretFiles), never values.
        **{f"{f.variable}_FILE": f"{swarm.SECRETS_DIR}/{f.file}"
           for f in swarm.SERVICE_SECRETS if f.key in wiring.present},
    }
    depends_on: list[pulumi.Resource] = [redis_service.service]
    if wiring.simulators is not None:
        depends_on += list(wiring.simulators.containers.values())
    service = swarm.HardenedService(swarm.TaskArgs(
        name=f"{config.prefix}-service", component="service", project=config.project,
        stack=config.stack, image=config.service_image, user=f"{SERVICE_UID}:{SERVICE_UID}",
        cpus=s.serviceCpus, memory_mb=s.serviceMemoryMb, pids_limit=s.servicePidsLimit,
        tmpfs_mb=64, network_id=network.id, aliases=["lucia"], replicas=s.serviceReplicas,
        update_order="start-first", stop_grace_seconds=STOP_GRACE_SECONDS,
        max_attempts=s.restartMaxRetries, log_max_size=s.logMaxSize,
        log_max_files=s.logMaxFiles,
        secrets=stack_secrets.mounts(swarm.SERVICE_SECRETS, uid=SERVICE_UID,
                                     gid=SERVICE_UID, mode=0o400),
        env={k: v for k, v in env.items() if v},
        healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(     # CIS 5.27
            tests=["CMD", "python", "-m", "lucia.healthcheck"], interval="2s",
            timeout="2s", retries=3, start_period="15s"),
    ), depends_on=depends_on)
    edge = HardenedContainer(ContainerArgs(
        name=f"{config.prefix}-edge", component="edge", project=config.project,
        stack=config.stack, image=EDGE_IMAGE, user="haproxy", cpus=0.5, memory_mb=64,
        pids_limit=EDGE_PIDS_LIMIT, tmpfs_mb=8, network=network.name, aliases=["edge"],
        runtime=runtime, stop_grace_seconds=EDGE_STOP_GRACE_SECONDS,
        envs=[f"LUCIA_EDGE_BACKEND=tasks.{config.prefix}-service",
              f"LUCIA_EDGE_BACKEND_PORT={CONTAINER_PORT}",
              f"LUCIA_EDGE_SLOTS={max(4, 2 * s.serviceReplicas)}"],
        ports=[docker.ContainerPortArgs(internal=EDGE_PORT, external=s.servicePort,   # 5.8
                                        ip="127.0.0.1")],                              # 5.14
        healthcheck=docker.ContainerHealthcheckArgs(                             # CIS 5.27
            tests=["CMD", "/usr/local/bin/edge-healthcheck"], interval="5s", timeout="3s",
            retries=3, start_period="5s"),
    ), depends_on=[service.service])
    return {
        "service_url": f"http://127.0.0.1:{s.servicePort}",
        "service_service": service.name,
        "service_replicas": s.serviceReplicas,
        "redis_service": redis_service.name,
        "edge_container": edge.name,
        "edge_image": EDGE_IMAGE,
        "redis_volume": volume.name,
        "secrets": [secret.name for secret in stack_secrets.secrets.values()],
    }, wiring
