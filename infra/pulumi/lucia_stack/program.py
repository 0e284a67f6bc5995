"""`build(config)`: the whole stack from its configuration. `__main__.py` calls it, the
tests call it under mocks, and the deploy tool records it to apply without the CLI."""

from __future__ import annotations

from typing import Any

from lucia_stack.config import StackConfig
from lucia_stack.network import Network
from lucia_stack.redis import Redis
from lucia_stack.service import Service


def build(config: StackConfig) -> dict[str, Any]:
    """Create the resources; return the stack outputs (snake_case)."""
    network = Network(config.prefix, config.project, config.stack)
    redis = Redis(f"{config.prefix}-redis", config, network.name)
    service = Service(f"{config.prefix}-service", config, network.name,
                      redis_host="redis", depends_on=[redis.container])
    return {
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
    }
