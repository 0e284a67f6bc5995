"""`build(config)`: the whole stack from its configuration. `__main__.py` calls it, the
tests call it under mocks, and the deploy tool records it to apply without the CLI."""

from __future__ import annotations

from typing import Any

import pulumi

from lucia_stack import simulators as sims
from lucia_stack.config import StackConfig, simulator_image
from lucia_stack.hardening import RuntimeArgs
from lucia_stack.network import Network
from lucia_stack.redis import Redis, RedisArgs
from lucia_stack.service import Service, ServiceArgs, ServiceSecrets
from lucia_stack.simulators import Simulators, SimulatorsArgs


def _or(secret: pulumi.Output[str], fallback: str) -> pulumi.Output[str]:
    return secret.apply(lambda value: value or fallback)


def build(config: StackConfig) -> dict[str, Any]:
    """Create the resources; return the stack outputs (snake_case)."""
    s, secrets = config.settings, config.secrets
    runtime = RuntimeArgs(restart=s.restartPolicy, max_retries=s.restartMaxRetries,
                          log_max_size=s.logMaxSize, log_max_files=s.logMaxFiles)
    network = Network(config.prefix, config.project, config.stack)
    redis = Redis(f"{config.prefix}-redis", RedisArgs(
        project=config.project, stack=config.stack, image=config.redis_image,
        network=network.name, password=secrets["redisPassword"],
        service_password=secrets["redisServicePassword"], appendfsync=s.redisAppendfsync,
        maxmemory_mb=config.redis_maxmemory_mb, memory_mb=s.redisMemoryMb, cpus=s.redisCpus,
        pids_limit=s.redisPidsLimit, publish_port=s.redisPublishPort, runtime=runtime))
    depends_on: list[pulumi.Resource] = [redis.container]
    home_assistant_url = s.homeAssistantUrl
    service_secrets = ServiceSecrets(
        redis_password=secrets["redisServicePassword"], chat_model=secrets["chatModel"],
        embeddings_model=secrets["embeddingsModel"],
        home_assistant_token=secrets["homeAssistantToken"], api_key=secrets["apiKey"])
    simulators = None
    if s.simulators:
        simulators = Simulators(f"{config.prefix}-sim", SimulatorsArgs(
            project=config.project, stack=config.stack,
            image=simulator_image(config.service_image), network=network.name,
            port_base=s.simulatorPortBase, runtime=runtime))
        depends_on += list(simulators.containers.values())
        # Point at the simulators whatever the operator left unset.
        home_assistant_url = home_assistant_url or sims.HA_URL
        service_secrets = ServiceSecrets(
            redis_password=service_secrets.redis_password,
            chat_model=_or(secrets["chatModel"], sims.LLM_CONNECTION),
            embeddings_model=_or(secrets["embeddingsModel"], sims.LLM_CONNECTION),
            home_assistant_token=_or(secrets["homeAssistantToken"], sims.HA_TOKEN),
            api_key=service_secrets.api_key)
    service = Service(f"{config.prefix}-service", ServiceArgs(
        project=config.project, stack=config.stack, image=config.service_image,
        network=network.name, redis_host="redis", port=s.servicePort, log_level=s.logLevel,
        home_assistant_url=home_assistant_url, secrets=service_secrets, cpus=s.serviceCpus,
        memory_mb=s.serviceMemoryMb, pids_limit=s.servicePidsLimit, runtime=runtime,
        environment=dict(s.serviceEnvironment)), depends_on=depends_on)
    outputs: dict[str, Any] = {
        "service_url": service.url,
        "service_container": service.name,
        "redis_container": redis.name,
        "network": network.name,
        "redis_volume": redis.volume.name,
        "service_image": config.service_image,
        "redis_image": config.redis_image,
        "service_port": s.servicePort,
        "redis_published_port": s.redisPublishPort,
        "redis_appendfsync": s.redisAppendfsync,
        "redis_maxmemory_bytes": config.redis_maxmemory_mb * 1024 * 1024,
        "redis_memory_limit_bytes": s.redisMemoryMb * 1024 * 1024,
        "redis_service_user": "lucia",
        "home_assistant_url": home_assistant_url,
    }
    # Whether the service talks to the simulators for both Home Assistant and the LLM:
    # only then may the full verification profile drive real side effects. An operator
    # who points a simulator stack at a real home gets the live (dry-run) profile.
    outputs["uses_simulators"] = pulumi.Output.unsecret(secrets["chatModel"].apply(
        lambda model: simulators is not None and not model
        and home_assistant_url == sims.HA_URL))
    if simulators is not None:
        outputs["sim_image"] = simulators.image
        outputs["sim_ha_container"] = simulators.containers["ha"].name
        outputs["sim_llm_container"] = simulators.containers["llm"].name
        if s.simulatorPortBase:
            outputs["sim_ha_url"] = f"http://127.0.0.1:{s.simulatorPortBase}"
            outputs["sim_llm_url"] = f"http://127.0.0.1:{s.simulatorPortBase + 1}"
    return outputs
