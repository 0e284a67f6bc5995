"""The simulators (tests/sim) as containers on the stack network, hardened like the rest:
`homeassistant:8123` (bearer token) and `llm:8000` (OpenAI-compatible)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from lucia_stack.config import StackConfig, simulator_image
from lucia_stack.hardening import hardened, labels

HA_TOKEN = "sim-ha-token"
HA_PORT = 8123
LLM_PORT = 8000
HA_URL = f"http://homeassistant:{HA_PORT}"
LLM_CONNECTION = f"Endpoint=http://llm:{LLM_PORT}/v1;AccessKey=sim-key;Model=sim-model;" \
                 "Provider=openai"


class Simulators(pulumi.ComponentResource):
    def __init__(self, name: str, config: StackConfig, network: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Simulators", name, None, opts)
        self.image = simulator_image(config.service_image)
        self.containers = {}
        for offset, (role, module, port, alias) in enumerate((
            ("ha", "tests.sim.homeassistant", HA_PORT, "homeassistant"),
            ("llm", "tests.sim.openai_compatible", LLM_PORT, "llm"),
        )):
            ports = []
            if config.simulatorPortBase:
                ports.append(docker.ContainerPortArgs(
                    internal=port, external=config.simulatorPortBase + offset,
                    ip="127.0.0.1"))                                        # CIS 5.14
            self.containers[role] = docker.Container(
                f"{name}-{role}",
                name=f"{name}-{role}",
                image=self.image,
                command=[module, "--host", "0.0.0.0", "--port", str(port)],
                envs=[f"SIM_PORT={port}", f"SIM_HA_TOKEN={HA_TOKEN}"],
                ports=ports,
                networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network,
                                                                        aliases=[alias])],
                healthcheck=docker.ContainerHealthcheckArgs(                 # CIS 5.27
                    tests=["CMD", "python", "-c",
                           "import urllib.request; urllib.request.urlopen("
                           f"'http://127.0.0.1:{port}/sim/health', timeout=2)"],
                    interval="5s", timeout="3s", retries=3, start_period="5s"),
                labels=labels(config.project, config.stack, f"sim-{role}"),
                stop_timeout=5,
                **hardened(user="1000:1000", cpus=1.0, memory_mb=128, tmpfs_mb=8,
                           restart=config.restartPolicy,
                           max_retries=config.restartMaxRetries,
                           log_max_size=config.logMaxSize, log_max_files=config.logMaxFiles),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({role: c.name for role, c in self.containers.items()})
