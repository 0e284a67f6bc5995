"""The simulators (sims/, package lucia_sims) as containers on the stack network, hardened
like the rest: `homeassistant:8123` (bearer token) and `llm:8000` (OpenAI-compatible)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from lucia_stack.hardening import ContainerArgs, HardenedContainer, RuntimeArgs

HA_TOKEN = "sim-ha-token"
HA_PORT = 8123
LLM_PORT = 8000
HA_URL = f"http://homeassistant:{HA_PORT}"
LLM_CONNECTION = f"Endpoint=http://llm:{LLM_PORT}/v1;AccessKey=sim-key;Model=sim-model;" \
                 "Provider=openai"
STOP_GRACE_SECONDS = 5
PIDS_LIMIT = 64


@dataclass(frozen=True, slots=True)
class SimulatorsArgs:
    project: str
    stack: str
    image: str
    network: pulumi.Input[str]
    port_base: int  # 0: not published
    runtime: RuntimeArgs


class Simulators(pulumi.ComponentResource):
    def __init__(self, name: str, args: SimulatorsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Simulators", name, None, opts)
        self.image = args.image
        self.containers: dict[str, docker.Container] = {}
        for offset, (role, module, port, alias) in enumerate((
            ("ha", "lucia_sims.homeassistant", HA_PORT, "homeassistant"),
            ("llm", "lucia_sims.openai_compatible", LLM_PORT, "llm"),
        )):
            ports = []
            if args.port_base:
                ports.append(docker.ContainerPortArgs(
                    internal=port, external=args.port_base + offset,
                    ip="127.0.0.1"))                                        # CIS 5.14
            self.containers[role] = HardenedContainer(ContainerArgs(
                name=f"{name}-{role}", component=f"sim-{role}", project=args.project,
                stack=args.stack, image=args.image, user="1000:1000", cpus=1.0,
                memory_mb=128, pids_limit=PIDS_LIMIT, tmpfs_mb=8, network=args.network,
                aliases=[alias], runtime=args.runtime,
                stop_grace_seconds=STOP_GRACE_SECONDS,
                command=[module, "--host", "0.0.0.0", "--port", str(port)],
                envs=[f"SIM_PORT={port}", f"SIM_HA_TOKEN={HA_TOKEN}"], ports=ports,
                healthcheck=docker.ContainerHealthcheckArgs(                 # CIS 5.27
                    tests=["CMD", "python", "-c",
                           "import urllib.request; urllib.request.urlopen("
                           f"'http://127.0.0.1:{port}/sim/health', timeout=2)"],
                    interval="5s", timeout="3s", retries=3, start_period="5s"),
            ), opts=pulumi.ResourceOptions(parent=self)).container
        self.register_outputs({role: c.name for role, c in self.containers.items()})
