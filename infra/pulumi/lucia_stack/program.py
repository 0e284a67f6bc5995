"""`build(config)`: the whole stack from its configuration. `__main__.py` calls it, the
tests call it under mocks, and the deploy tool records it to apply without the CLI."""

from __future__ import annotations

from typing import Any

import pulumi

from lucia_stack.config import StackConfig
from lucia_stack.network import Network
from lucia_stack.redis import Redis
from lucia_stack.service import Service
from lucia_stack.simulators import Simulators


def build(config: StackConfig) -> dict[str, Any]:
    """Create the resources; return the stack outputs (snake_case)."""
    network = Network(config.prefix, config.project, config.stack)
    redis = Redis(f"{config.prefix}-redis", config, network.name)
    depends_on: list[pulumi.Resource] = [redis.container]
    simulators = None
    if config.simulators:
        simulators = Simulators(f"{config.prefix}-sim", config, network.name)
        depends_on += list(simulators.containers.values())
    service = Service(f"{config.prefix}-service", config, network.name,
                      redis_host="redis", depends_on=depends_on)
    outputs: dict[str, Any] = {
        "service_url": service.url,
        "service_container": service.name,
        "redis_container": redis.name,
        "network": network.name,
        "redis_volume": redis.volume.name,
        "service_image": config.service_image,
        "redis_image": config.redis_image,
        "service_port": config.servicePort,
        "redis_published_port": config.redisPublishPort,
        "redis_appendfsync": config.redisAppendfsync,
        "redis_maxmemory_bytes": config.redis_maxmemory_mb * 1024 * 1024,
        "redis_memory_limit_bytes": config.redisMemoryMb * 1024 * 1024,
        "redis_service_user": "lucia",
        "home_assistant_url": service.home_assistant_url,
    }
    if simulators is not None:
        outputs["sim_image"] = simulators.image
        outputs["sim_ha_container"] = simulators.containers["ha"].name
        outputs["sim_llm_container"] = simulators.containers["llm"].name
        if config.simulatorPortBase:
            outputs["sim_ha_url"] = f"http://127.0.0.1:{config.simulatorPortBase}"
            outputs["sim_llm_url"] = f"http://127.0.0.1:{config.simulatorPortBase + 1}"
    return outputs
