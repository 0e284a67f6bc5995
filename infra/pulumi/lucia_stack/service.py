"""The lucia service container: published only on 127.0.0.1, hardened, healthchecked."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from lucia_stack import redis
from lucia_stack.hardening import ContainerArgs, HardenedContainer, RuntimeArgs

CONTAINER_PORT = 8080
# SIGTERM, then up to 15 s for in-flight requests to drain (the app allows 10).
STOP_GRACE_SECONDS = 15


@dataclass(frozen=True, slots=True)
class ServiceSecrets:
    redis_password: pulumi.Input[str]
    chat_model: pulumi.Input[str]
    embeddings_model: pulumi.Input[str]
    home_assistant_token: pulumi.Input[str]
    api_key: pulumi.Input[str]


@dataclass(frozen=True, slots=True)
class ServiceArgs:
    project: str
    stack: str
    image: str
    network: pulumi.Input[str]
    redis_host: pulumi.Input[str]
    port: int
    log_level: str
    home_assistant_url: str
    secrets: ServiceSecrets
    cpus: float
    memory_mb: int
    pids_limit: int
    runtime: RuntimeArgs
    environment: dict[str, str] = field(default_factory=dict)


class Service(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceArgs, depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Service", name, None, opts)
        plain = {
            "LUCIA_PORT": str(CONTAINER_PORT),
            "LUCIA_LOG_LEVEL": args.log_level,
            "REDIS_USERNAME": redis.SERVICE_USER,
            "HomeAssistant__BaseUrl": args.home_assistant_url,
            **args.environment,
        }
        s = args.secrets
        envs = pulumi.Output.all(
            args.redis_host, s.redis_password, s.chat_model, s.embeddings_model,
            s.home_assistant_token, s.api_key,
        ).apply(lambda v: [f"{k}={val}" for k, val in {
            **plain,
            "REDIS_URL": f"redis://{v[0]}:{redis.PORT}/0",
            "REDIS_PASSWORD": v[1],
            "ConnectionStrings__chat-model": v[2],
            "ConnectionStrings__embeddings": v[3],
            "HomeAssistant__AccessToken": v[4],
            "LUCIA_API_KEY": v[5],
        }.items() if val])
        self.hardened = HardenedContainer(ContainerArgs(
            name=name, component="service", project=args.project, stack=args.stack,
            image=args.image, user="1000:1000", cpus=args.cpus, memory_mb=args.memory_mb,
            pids_limit=args.pids_limit, tmpfs_mb=64, network=args.network,
            aliases=["lucia"], runtime=args.runtime, stop_grace_seconds=STOP_GRACE_SECONDS,
            envs=envs, wait_seconds=120,
            ports=[docker.ContainerPortArgs(internal=CONTAINER_PORT,           # CIS 5.8
                                            external=args.port, ip="127.0.0.1")],  # CIS 5.14
            # Docker (20.10) runs the first check one interval after the start, and the
            # service answers within about 0.7 s: a 2 s interval makes a restart healthy in
            # about 2 s (5 s took 5.2 s), for one short stdlib-only probe every 2 s.
            healthcheck=docker.ContainerHealthcheckArgs(                         # CIS 5.27
                tests=["CMD", "python", "-m", "lucia.healthcheck"],
                interval="2s", timeout="2s", retries=3, start_period="15s"),
        ), opts=pulumi.ResourceOptions(parent=self), depends_on=depends_on)
        self.container = self.hardened.container
        self.name = self.container.name
        self.url = f"http://127.0.0.1:{args.port}"
        self.register_outputs({"name": self.name, "url": self.url})
