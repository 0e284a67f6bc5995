"""What the service is pointed at, whichever engine runs it: Home Assistant, the LLM and
its secrets, with the simulators (when the stack runs them) filling in whatever the
operator left unset."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from lucia_stack import simulators as sims
from lucia_stack.config import StackConfig, simulator_image
from lucia_stack.hardening import RuntimeArgs
from lucia_stack.network import Network
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
