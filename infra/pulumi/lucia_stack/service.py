"""The lucia service container: published only on 127.0.0.1, hardened, healthchecked."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from lucia_stack import redis, simulators
from lucia_stack.config import StackConfig
from lucia_stack.hardening import hardened, labels

CONTAINER_PORT = 8080


class Service(pulumi.ComponentResource):
    def __init__(self, name: str, config: StackConfig, network: pulumi.Input[str],
                 redis_host: pulumi.Input[str], depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Service", name, None, opts)
        secrets = dict(config.secrets)
        self.home_assistant_url = config.homeAssistantUrl
        if config.simulators:
            # Point at the simulators whatever the operator left unset.
            self.home_assistant_url = self.home_assistant_url or simulators.HA_URL
            fallback = {"homeAssistantToken": simulators.HA_TOKEN,
                        "chatModel": simulators.LLM_CONNECTION,
                        "embeddingsModel": simulators.LLM_CONNECTION}
            for key, value in fallback.items():
                secrets[key] = secrets[key].apply(lambda v, d=value: v or d)
        plain = {
            "LUCIA_PORT": str(CONTAINER_PORT),
            "LUCIA_LOG_LEVEL": config.logLevel,
            "REDIS_USERNAME": redis.SERVICE_USER,
            "HomeAssistant__BaseUrl": self.home_assistant_url,
            **{k: str(v) for k, v in config.serviceEnvironment.items()},
        }
        envs = pulumi.Output.all(
            redis_host, secrets["redisServicePassword"], secrets["chatModel"],
            secrets["embeddingsModel"], secrets["homeAssistantToken"], secrets["apiKey"],
        ).apply(lambda v: [f"{k}={val}" for k, val in {
            **plain,
            "REDIS_URL": f"redis://{v[0]}:{redis.PORT}/0",
            "REDIS_PASSWORD": v[1],
            "ConnectionStrings__chat-model": v[2],
            "ConnectionStrings__embeddings": v[3],
            "HomeAssistant__AccessToken": v[4],
            "LUCIA_API_KEY": v[5],
        }.items() if val])
        self.container = docker.Container(
            name,
            name=name,
            image=config.service_image,
            envs=envs,
            ports=[docker.ContainerPortArgs(internal=CONTAINER_PORT,       # CIS 5.8
                                            external=config.servicePort,
                                            ip="127.0.0.1")],               # CIS 5.14
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network,
                                                                    aliases=["lucia"])],
            healthcheck=docker.ContainerHealthcheckArgs(                     # CIS 5.27
                tests=["CMD", "python", "-m", "lucia.healthcheck"],
                interval="5s", timeout="4s", retries=3, start_period="15s"),
            labels=labels(config.project, config.stack, "service"),
            # SIGTERM, then up to 15 s for in-flight requests to drain (the app allows 10).
            stop_timeout=15,
            destroy_grace_seconds=15,
            wait=True,
            wait_timeout=120,
            **hardened(user="1000:1000", cpus=config.serviceCpus,
                       memory_mb=config.serviceMemoryMb, tmpfs_mb=64,
                       restart=config.restartPolicy, max_retries=config.restartMaxRetries,
                       log_max_size=config.logMaxSize, log_max_files=config.logMaxFiles),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        self.name = self.container.name
        self.url = f"http://127.0.0.1:{config.servicePort}"
        self.register_outputs({"name": self.name, "url": self.url})
