"""`build(config)`: the whole stack from its configuration. `__main__.py` calls it, the
tests call it under mocks, and the deploy tool records it to apply without the CLI."""

from __future__ import annotations

from typing import Any

import pulumi

from lucia_stack import container_engine, swarm_engine
from lucia_stack import simulators as sims
from lucia_stack.config import StackConfig
from lucia_stack.hardening import RuntimeArgs
from lucia_stack.network import Network


def build(config: StackConfig) -> dict[str, Any]:
    """Create the resources; return the stack outputs (snake_case)."""
    s, secrets = config.settings, config.secrets
    runtime = RuntimeArgs(restart=s.restartPolicy, max_retries=s.restartMaxRetries,
                          log_max_size=s.logMaxSize, log_max_files=s.logMaxFiles)
    network = Network(config.prefix, config.project, config.stack,
                      overlay=s.engine == "swarm")
    # Each engine is a sibling module with the same build(); another (Kubernetes) would
    # be one more.
    engines = {"swarm": swarm_engine.build, "container": container_engine.build}
    outputs, wiring = engines[s.engine](config, network, runtime)
    outputs |= {
        "engine": s.engine,
        "network": network.name,
        "service_image": config.service_image,
        "redis_image": config.redis_image,
        "service_port": s.servicePort,
        "redis_published_port": s.redisPublishPort,
        "redis_appendfsync": s.redisAppendfsync,
        "redis_maxmemory_bytes": config.redis_maxmemory_mb * 1024 * 1024,
        "redis_memory_limit_bytes": s.redisMemoryMb * 1024 * 1024,
        "redis_service_user": "lucia",
        "home_assistant_url": wiring.home_assistant_url,
    }
    # Whether the service talks to the simulators for both Home Assistant and the LLM:
    # only then may the full verification profile drive real side effects. An operator
    # who points a simulator stack at a real home gets the live (dry-run) profile.
    simulators = wiring.simulators
    outputs["uses_simulators"] = pulumi.Output.unsecret(secrets["chatModel"].apply(
        lambda model: simulators is not None and not model
        and wiring.home_assistant_url == sims.HA_URL))
    if simulators is not None:
        outputs["sim_image"] = simulators.image
        outputs["sim_ha_container"] = simulators.containers["ha"].name
        outputs["sim_llm_container"] = simulators.containers["llm"].name
        if s.simulatorPortBase:
            outputs["sim_ha_url"] = f"http://127.0.0.1:{s.simulatorPortBase}"
            outputs["sim_llm_url"] = f"http://127.0.0.1:{s.simulatorPortBase + 1}"
    return outputs
