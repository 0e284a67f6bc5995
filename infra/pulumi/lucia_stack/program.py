"""`build(config)`: the whole stack from its configuration. `__main__.py` calls it, the
tests call it under mocks, and the deploy tool records it to apply without the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from lucia_stack import simulators as sims
from lucia_stack import swarm_engine
from lucia_stack.config import StackConfig, simulator_image
from lucia_stack.hardening import RuntimeArgs
from lucia_stack.network import Network
from lucia_stack.redis import Redis, RedisArgs
from lucia_stack.service import Service, ServiceArgs, ServiceSecrets
from lucia_stack.simulators import Simulators, SimulatorsArgs


def _or(secret: pulumi.Output[str], fallback: str) -> pulumi.Output[str]:
    return secret.apply(lambda value: value or fallback)


@dataclass(frozen=True)
class Wiring:
    """What the service is pointed at, whichever engine runs it: the simulators fill in
    whatever the operator left unset."""

    home_assistant_url: str
    secrets: dict[str, pulumi.Output[str]]   # the service's secrets, by config key
    present: frozenset[str]                  # the keys among them that have a value
    simulators: Simulators | None


def wire(config: StackConfig, network: Network, runtime: RuntimeArgs) -> Wiring:
    s, secrets = config.settings, config.secrets
    keys = ("redisServicePassword", "chatModel", "embeddingsModel", "homeAssistantToken",
            "apiKey")
    service_secrets = {key: secrets[key] for key in keys}
    present = config.present | {"redisServicePassword"}
    if not s.simulators:
        return Wiring(s.homeAssistantUrl, service_secrets, present & set(keys), None)
    simulators = Simulators(f"{config.prefix}-sim", SimulatorsArgs(
        project=config.project, stack=config.stack,
        image=simulator_image(config.service_image), network=network.name,
        port_base=s.simulatorPortBase, runtime=runtime))
    # Point at the simulators whatever the operator left unset.
    for key, fallback in (("chatModel", sims.LLM_CONNECTION),
                          ("embeddingsModel", sims.LLM_CONNECTION),
                          ("homeAssistantToken", sims.HA_TOKEN)):
        service_secrets[key] = _or(secrets[key], fallback)
        present |= {key}
    return Wiring(s.homeAssistantUrl or sims.HA_URL, service_secrets, present & set(keys),
                  simulators)


def build(config: StackConfig) -> dict[str, Any]:
    """Create the resources; return the stack outputs (snake_case)."""
    s, secrets = config.settings, config.secrets
    runtime = RuntimeArgs(restart=s.restartPolicy, max_retries=s.restartMaxRetries,
                          log_max_size=s.logMaxSize, log_max_files=s.logMaxFiles)
    network = Network(config.prefix, config.project, config.stack,
                      overlay=s.engine == "swarm")
    if s.engine == "swarm":
        wiring = wire(config, network, runtime)
        outputs = swarm_engine.build(config, network, runtime, wiring)
    else:
        outputs, wiring = _containers(config, network, runtime)
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


def _containers(config: StackConfig, network: Network,
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
