"""The swarm engine (`lucia:engine: swarm`, docs/swarm.md): the service as a Docker Swarm
service with replicas, Redis as a one-replica service on its volume, their secrets as
Swarm secrets, and an edge container on 127.0.0.1 in front.

Each hardening setting carries its CIS Docker Benchmark id, as hardening.py does for
containers; the policies (lucia_policies/rules.py) check the same ids on services."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from lucia_stack import redis
from lucia_stack.hardening import WorkloadArgs, label_map

SECRETS_DIR = "/run/secrets"
# Redis's boot script reads its passwords from these files (redis.BOOT_SCRIPT takes them
# from the environment, where the swarm engine never puts them).
REDIS_PASSWORD_FILE = f"{SECRETS_DIR}/redis-password"
REDIS_SERVICE_PASSWORD_FILE = f"{SECRETS_DIR}/redis-service-password"


@dataclass(frozen=True, slots=True)
class SecretFile:
    """A stack secret as a file: the config key, its file name under /run/secrets, and
    the variable the service reads it through (`<variable>_FILE`)."""

    key: str
    file: str
    variable: str = ""


SERVICE_SECRETS = (
    SecretFile("redisServicePassword", "redis-service-password", "REDIS_PASSWORD"),
    SecretFile("apiKey", "api-key", "LUCIA_API_KEY"),
    SecretFile("chatModel", "chat-model", "ConnectionStrings__chat-model"),
    SecretFile("embeddingsModel", "embeddings-model", "ConnectionStrings__embeddings"),
    SecretFile("homeAssistantToken", "home-assistant-token", "HomeAssistant__AccessToken"),
)
REDIS_SECRETS = (
    SecretFile("redisPassword", "redis-password"),
    SecretFile("redisServicePassword", "redis-service-password"),
)


def _base64(text: str) -> str:
    """Standard base64, which the provider decodes (SEC:96; not url-safe, whatever its
    description says)."""
    return base64.b64encode(text.encode()).decode()


class StackSecrets(pulumi.ComponentResource):
    """One docker.Secret per stack secret that has a value.

    Swarm secrets cannot change: a new value replaces the secret. Each is left unnamed,
    so the provider names it (`<resource>-<7 characters>`, pulumi-docker's autonaming) and
    a replacement is created before the old one is deleted: the services move to the new
    secret first, and Swarm refuses to delete a secret a service still uses. An explicit
    name would make the replacement delete first, and fail (docs/pulumi-fidelity.md)."""

    def __init__(self, name: str, project: str, stack: str,
                 values: dict[str, pulumi.Output[str]],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:StackSecrets", name, None, opts)
        self.secrets: dict[str, docker.Secret] = {}
        files = {s.key: s.file for s in (*SERVICE_SECRETS, *REDIS_SECRETS)}
        for key, value in values.items():
            file = files[key]
            self.secrets[key] = docker.Secret(
                f"{name}-{file}",
                # The provider sends `data` base64-decoded (docs/pulumi-fidelity.md).
                # A secret Output (the stack's secrets are), and the provider keeps it one.
                data=value.apply(_base64),
                labels=[docker.SecretLabelArgs(label=k, value=v) for k, v in
                        label_map(project, stack, f"secret-{file}").items()],
                opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})

    def mounts(self, files: tuple[SecretFile, ...], uid: str, gid: str,
               mode: int) -> list[docker.ServiceTaskSpecContainerSpecSecretArgs]:
        return [docker.ServiceTaskSpecContainerSpecSecretArgs(
            secret_id=self.secrets[f.key].id, secret_name=self.secrets[f.key].name,
            file_name=f"{SECRETS_DIR}/{f.file}", file_uid=uid, file_gid=gid, file_mode=mode)
            for f in files if f.key in self.secrets]


@dataclass(frozen=True, slots=True)
class TaskArgs(WorkloadArgs):
    """One hardened Swarm service: the workload, replicas, updates and what each task
    runs."""

    network_id: pulumi.Input[str]
    healthcheck: docker.ServiceTaskSpecContainerSpecHealthcheckArgs
    replicas: int
    # start-first for the stateless service (no gap), stop-first for Redis (two Redis
    # processes must never share its volume).
    update_order: str
    stop_grace_seconds: int
    max_attempts: int
    log_max_size: str
    log_max_files: int
    secrets: list[docker.ServiceTaskSpecContainerSpecSecretArgs]
    env: pulumi.Input[dict[str, str]] | None = None
    commands: list[str] | None = None
    mounts: list[docker.ServiceTaskSpecContainerSpecMountArgs] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)


PIDS_LIMIT_LABEL = "io.lucia.pids-limit"


def pids_limit_argv(limit: int, service: str) -> list[str]:
    """The one command that sets a service's PIDs limit: run by the program's
    command.local after each create or update, and by lucia-deploy where an update
    dropped it (services.restore_pids_limits)."""
    return ["docker", "service", "update", "--quiet", "--detach=false", "--limit-pids",
            str(limit), service]


class HardenedService(pulumi.ComponentResource):
    """A hardened docker.Service and its PIDs limit (CIS 5.29), which the provider's
    service schema cannot express."""

    def __init__(self, args: TaskArgs, opts: pulumi.ResourceOptions | None = None,
                 depends_on: list[pulumi.Resource] | None = None) -> None:
        super().__init__("lucia:stack:HardenedService", args.name, None, opts)
        labels = label_map(args.project, args.stack, args.component)
        # The image by id, as for containers: a rebuild under the same tag is a new id,
        # which updates the service (a rolling update).
        self.image = docker.RemoteImage(f"{args.name}-image", name=args.image,
                                        keep_locally=True,
                                        opts=pulumi.ResourceOptions(parent=self))
        mounts = [docker.ServiceTaskSpecContainerSpecMountArgs(                 # CIS 5.13
            target="/tmp", type="tmpfs",
            # No mode: the kernel's tmpfs default (1777) is what /tmp wants, and the
            # provider reads a mode back as Mode.Perm() (SS:274), so 0o1777 would read
            # back as 0o777 and update the service on every `up`.
            tmpfs_options=docker.ServiceTaskSpecContainerSpecMountTmpfsOptionsArgs(
                size_bytes=args.tmpfs_mb * 1024 * 1024)), *args.mounts]
        self.service = docker.Service(
            args.name,
            name=args.name,
            # The limit the service must have, on the service itself: lucia-deploy checks
            # it after every `up` (services.restore_pids_limits), because an Update that
            # undoes a change made by hand leaves the triggers below as they were.
            labels=[docker.ServiceLabelArgs(label=k, value=v) for k, v in
                    {**labels, PIDS_LIMIT_LABEL: str(args.pids_limit)}.items()],
            mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(
                replicas=args.replicas)),
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                    image=self.image.image_id,
                    user=args.user,                                         # CIS 4.1
                    cap_drops=["ALL"],                                      # CIS 5.4
                    read_only=True,                                         # CIS 5.13
                    init=True,          # reaps zombies and forwards SIGTERM to the app
                    mounts=mounts,
                    env=args.env,
                    commands=args.commands,
                    secrets=args.secrets,
                    healthcheck=args.healthcheck,                           # CIS 5.27
                    stop_grace_period=f"{args.stop_grace_seconds}s",
                    labels=[docker.ServiceTaskSpecContainerSpecLabelArgs(label=k, value=v)
                            for k, v in labels.items()],
                ),
                resources=docker.ServiceTaskSpecResourcesArgs(
                    limits=docker.ServiceTaskSpecResourcesLimitsArgs(
                        nano_cpus=int(args.cpus * 10**9),                   # CIS 5.12
                        memory_bytes=args.memory_mb * 1024 * 1024)),        # CIS 5.11
                restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(     # CIS 5.15
                    condition="on-failure", max_attempts=args.max_attempts, delay="2s",
                    window="30s"),
                placement=docker.ServiceTaskSpecPlacementArgs(constraints=args.constraints)
                if args.constraints else None,
                # By id: the provider reads networks back by id only, so a name would
                # replace the service on every `up` (S:716).
                networks_advanceds=[docker.ServiceTaskSpecNetworksAdvancedArgs(
                    id=args.network_id, aliases=args.aliases)],             # CIS 5.30
                log_driver=docker.ServiceTaskSpecLogDriverArgs(
                    name="json-file", options={"max-size": args.log_max_size,
                                               "max-file": str(args.log_max_files)}),
            ),
            # One task at a time, each watched for 10 s; an update whose tasks fail is
            # rolled back by Swarm, the old tasks serving throughout (start-first).
            update_config=docker.ServiceUpdateConfigArgs(
                parallelism=1, delay="0s", order=args.update_order, monitor="10s",
                max_failure_ratio="0", failure_action="rollback"),
            rollback_config=docker.ServiceRollbackConfigArgs(
                parallelism=1, delay="0s", order=args.update_order, monitor="10s",
                max_failure_ratio="0", failure_action="pause"),
            # dnsrr: no IPVS on this kernel, and the edge balances per replica anyway. No
            # published ports: Swarm cannot bind 127.0.0.1 (CIS 5.14); the edge publishes.
            endpoint_spec=docker.ServiceEndpointSpecArgs(mode="dnsrr"),
            # Create and update wait until the tasks run (healthy, with a healthcheck).
            converge_config=docker.ServiceConvergeConfigArgs(delay="2s", timeout="3m"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        # CIS 5.29: the provider's service has no PIDs limit, and its Update sends the whole
        # spec it knows, which drops one set by hand; so the limit is set again after every
        # create or update of the service (every input the Update sends is a trigger).
        # Each such update therefore rolls the tasks twice, briefly without the limit
        # between the two (docs/swarm.md).
        self.pids_limit = command.local.Command(
            f"{args.name}-pids-limit",
            create=shlex.join(pids_limit_argv(args.pids_limit, args.name)),
            triggers=[self.service.id, self.service.task_spec, self.service.mode,
                      self.service.update_config, self.service.rollback_config,
                      self.service.endpoint_spec, self.service.labels],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service]),
        )
        self.name = self.service.name
        self.register_outputs({"name": self.name})


def redis_boot_script() -> str:
    """Redis's own boot script, with its passwords read from the secret files first."""
    return (f'REDIS_PASSWORD="$(cat {REDIS_PASSWORD_FILE})"; '
            f'REDIS_SERVICE_PASSWORD="$(cat {REDIS_SERVICE_PASSWORD_FILE})"; '
            f"export REDIS_PASSWORD REDIS_SERVICE_PASSWORD; {redis.BOOT_SCRIPT}")


REDIS_HEALTHCHECK = ["CMD-SHELL", f'REDISCLI_AUTH="$(cat {REDIS_PASSWORD_FILE})" '
                                  "redis-cli ping | grep -q PONG"]
