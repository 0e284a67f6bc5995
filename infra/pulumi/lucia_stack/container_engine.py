"""The container engine's stack (`lucia:engine: container`, the default): Redis and the
service as one hardened container each on the stack's bridge. program.build() calls it
with what every engine shares; swarm_engine.py is its sibling."""

from __future__ import annotations

from typing import Any

import pulumi

from lucia_stack.config import StackConfig
from lucia_stack.hardening import RuntimeArgs
from lucia_stack.network import Network
from lucia_stack.redis import Redis, RedisArgs
from lucia_stack.service import Service, ServiceArgs, ServiceSecrets
from lucia_stack.wiring import Wiring, wire


def build(config: StackConfig, network: Network,
                runtime: RuntimeArgs) -> tuple[dict[str, Any], Wiring]:
    """The container engine: Redis and the service as one hardened container each."""
    s, secrets = config.settings, config.secrets
    redis = Redis(f"{config.prefix}-redis", RedisArgs(
        project=config.project, stack=config.stack, image=config.redis_image,
        network=network.name, password=secrets["redisPassword"],
        service_password=secrets["redisServicePassword"], appendfsync=s.redisAppendfsync,
        maxmemory_mb=config.redis_maxmemory_mb, memory_mb=s.redisMemoryMb, cpus=s.redisCpus,
        pids_limit=s.redisPidsLimit, publish_port=s.redisPublishPort, runtime=runtime))
    wiring = wire(config, network, runtime)
    depends_on: list[pulumi.Resource] = [redis.container]
    if wiring.simulators is not None:
        depends_on += list(wiring.simulators.containers.values())
    w = wiring.secrets
    service = Service(f"{config.prefix}-service", ServiceArgs(
        project=config.project, stack=config.stack, image=config.service_image,
        network=network.name, redis_host="redis", port=s.servicePort, log_level=s.logLevel,
        home_assistant_url=wiring.home_assistant_url, secrets=ServiceSecrets(
            redis_password=w["redisServicePassword"], chat_model=w["chatModel"],
            embeddings_model=w["embeddingsModel"],
            home_assistant_token=w["homeAssistantToken"], api_key=w["apiKey"]),
        cpus=s.serviceCpus, memory_mb=s.serviceMemoryMb, pids_limit=s.servicePidsLimit,
        runtime=runtime, environment=dict(s.serviceEnvironment)), depends_on=depends_on)
    return {
        "service_url": service.url,
        "service_container": service.name,
        "redis_container": redis.name,
        "redis_volume": redis.volume.name,
    }, wiring
