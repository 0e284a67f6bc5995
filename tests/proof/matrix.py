"""The proof matrix: one row per hardening property, each a weakening applied past the
policies to the ci program's service or Redis, the exact gate checks it must make fail,
and the policy that must reject it (or why none can: a property that is not an input of
the program's resources).

Weakenings that cannot disturb each other's checks share a deployment, so that every
failure is still attributed to exactly one row: each check is parametrized by its
container, and two rows of one deployment never kill the same check of the same
container."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lucia_stack import redis as redis_program

Inputs = dict[str, Any]

SHARED_MOUNT = "/tmp/lucia-proof-shared"  # a shared tmpfs the proof mounts (5.20 needs one)
# Images the proof builds: USER root, HEALTHCHECK NONE, a setuid binary, a token in ENV,
# and tagged only `latest`.
WEAK_SERVICE_IMAGE = "lucia-proof-service:latest"
WEAK_REDIS_IMAGE = "lucia-proof-redis:latest"
IMAGE_KILLS = ("test_cis_4_1_image_user_is_not_root", "test_cis_4_6_healthcheck_in_image",
               "test_cis_4_8_no_setuid_setgid_files", "test_cis_4_10_no_secrets_in_image",
               "test_lucia_deployed_images_are_pinned")
WEAK_DOCKERFILE = """\
FROM lucia-base
ADD requirements.txt /opt/requirements.txt
"""


def _set(**values: Any) -> Callable[[Inputs], None]:
    return lambda inputs: inputs.update(values)


def _drop(*keys: str) -> Callable[[Inputs], None]:
    def change(inputs: Inputs) -> None:
        for key in keys:
            inputs.pop(key, None)
    return change


def _append(key: str, item: Any) -> Callable[[Inputs], None]:
    return lambda inputs: inputs.setdefault(key, []).append(item)


def _boot(old: str, new: str) -> Callable[[Inputs], None]:
    """Rewrite one line of Redis's boot script (its configuration is written at start)."""
    def change(inputs: Inputs) -> None:
        script = inputs["entrypoints"][2]
        assert old in script, f"the boot script no longer contains {old!r}"
        inputs["entrypoints"][2] = script.replace(old, new)
    return change


def _boot_prefix(commands: str) -> Callable[[Inputs], None]:
    """Run shell commands before the container's own start (the service image's is
    `python -m lucia`, which the program does not set)."""
    def change(inputs: Inputs) -> None:
        inputs.setdefault("entrypoints", ["/bin/sh", "-c", "exec python -m lucia"])
        inputs["entrypoints"][2] = f"{commands}; {inputs['entrypoints'][2]}"
    return change


def _env(old: str, new: str) -> Callable[[Inputs], None]:
    """Rewrite the container's environment (kept inside its secret wrapper)."""
    def change(inputs: Inputs) -> None:
        envs = inputs["envs"]
        values = envs if isinstance(envs, list) else envs["value"]
        assert any(old in e for e in values), f"no variable holds {old!r}"
        values[:] = [e.replace(old, new) for e in values]
    return change


def _pid1_kills(component: str) -> frozenset[str]:
    return frozenset().union(*(checks(name, component) for name in (
        "test_cis_5_4_capabilities_dropped", "test_cis_5_22_seccomp_not_disabled",
        "test_cis_5_26_no_new_privileges")))


def _image_kills(component: str) -> frozenset[str]:
    return frozenset().union(*(checks(name, component) for name in IMAGE_KILLS))


def checks(name: str, *params: str) -> frozenset[str]:
    return frozenset(f"{name}[{p}]" for p in params) if params else frozenset({name})


@dataclass(frozen=True)
class Weakening:
    key: str
    cis: str                       # CIS id, or the lucia rule it breaks
    component: str                 # service | redis
    what: str
    kills: frozenset[str]          # the gate checks that must fail
    policy: str | frozenset[str] | None  # the policies that must reject it
    change: Callable[[Inputs], None] | None = None   # on the container's checked inputs
    engine: dict[str, Any] = field(default_factory=dict)  # set on the engine, not an input
    image: str = ""                # the container runs this image instead
    drop_pids_limit: bool = False  # its `docker update --pids-limit` command is removed
    why_no_policy: str = ""
    needs_apparmor: bool = False   # where the kernel has none, its checks must skip
    # The same weakening on other containers, when they cannot be told apart (one row).
    others: tuple[tuple[str, Callable[[Inputs], None]], ...] = ()


@dataclass(frozen=True)
class Deployment:
    name: str
    weakenings: tuple[Weakening, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    dockerfile: bool = False       # also check WEAK_DOCKERFILE with the Dockerfile checks


RUNTIME_ONLY = "Redis's configuration is written inside the container at start; no " \
               "resource input carries it"
IMAGE_ONLY = "image content is not a resource input; the image checks are the gate"
NO_UTS_INPUT = "pulumi-docker's Container has no UTS mode input; set on the engine directly"
S, R = "service", "redis"

DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment("proof1", (
        # Root on a writable root filesystem: only the two together let the runtime user
        # rewrite the application, so they are one row.
        Weakening("service-root-writable", "4.1/5.13", S, "user 0:0 on a writable root fs",
                  checks("test_cis_4_1_container_user_is_not_root", S)
                  | checks("test_cis_5_13_read_only_rootfs", S)
                  | checks("test_lucia_code_not_writable_by_runtime_user", S),
                  frozenset({"cis-4-1-non-root-user", "cis-5-13-read-only-rootfs"}),
                  _set(user="0:0", readOnly=False)),
        Weakening("service-caps", "5.4", S, "no capability drop",
                  checks("test_cis_5_4_capabilities_dropped", S),
                  "cis-5-4-capabilities-dropped", _drop("capabilities")),
        Weakening("service-all-interfaces", "5.14", S, "port on 0.0.0.0",
                  checks("test_cis_5_14_ports_bound_to_loopback", S),
                  "cis-5-14-bound-to-loopback",
                  lambda i: [p.update(ip="0.0.0.0") for p in i["ports"]]),
        Weakening("service-sudo", "5.7", S, "a sudo binary in PATH", checks(
            "test_cis_5_7_no_sshd_or_sudo", S), None,
            _boot_prefix("cp /bin/sleep /usr/bin/sudo"), why_no_policy=RUNTIME_ONLY),
        Weakening("service-apt-cache", "LUCIA", S, "apt lists left behind", checks(
            "test_lucia_no_package_manager_caches", S), None,
            _boot_prefix("mkdir -p /var/lib/apt/lists; touch /var/lib/apt/lists/proof"),
            why_no_policy=RUNTIME_ONLY),
        # Root without capabilities cannot enter the redis-owned /data: Redis writes to
        # /tmp instead, so the container still starts and the gate can judge it.
        Weakening("redis-root-writable", "4.1/5.13", R, "user 0:0 on a writable root fs",
                  checks("test_cis_4_1_container_user_is_not_root", R)
                  | checks("test_cis_5_13_read_only_rootfs", R)
                  | checks("test_lucia_code_not_writable_by_runtime_user", R),
                  frozenset({"cis-4-1-non-root-user", "cis-5-13-read-only-rootfs"}),
                  lambda i: (
                      i.update(user="0:0", readOnly=False),
                      _boot('"dir /data"', '"dir /tmp"')(i))),
        Weakening("redis-sudo", "5.7", R, "a sudo binary in PATH", checks(
            "test_cis_5_7_no_sshd_or_sudo", R), None,
            _boot_prefix("cp /bin/sleep /usr/bin/sudo"), why_no_policy=RUNTIME_ONLY),
        Weakening("redis-apt-cache", "LUCIA", R, "apt lists left in the image", checks(
            "test_lucia_no_package_manager_caches", R), None,
            _boot_prefix("mkdir -p /var/lib/apt/lists; touch /var/lib/apt/lists/proof"),
            why_no_policy=RUNTIME_ONLY),
        Weakening("redis-extra-listener", "LUCIA", R, "a second server on port 6390",
                  checks("test_lucia_only_expected_listening_sockets", R), None,
                  _boot_prefix("redis-server --port 6390 --daemonize yes --save '' "
                               "--appendonly no --dir /tmp"), why_no_policy=RUNTIME_ONLY),
    )),
    Deployment("proof2", (
        # Privileged re-grants every capability and turns seccomp off.
        Weakening("service-privileged", "5.5", S, "privileged", checks(
            "test_cis_5_5_not_privileged", S) | checks("test_cis_5_4_capabilities_dropped", S)
            | checks("test_cis_5_22_seccomp_not_disabled", S), "cis-5-5-not-privileged",
            _set(privileged=True)),
        Weakening("service-no-memory-limit", "5.11", S, "no memory limit", checks(
            "test_cis_5_11_memory_limited", S), "cis-5-11-memory-limited",
            _drop("memory", "memorySwap")),
        Weakening("service-no-cpu-limit", "5.12", S, "no CPU limit", checks(
            "test_cis_5_12_cpu_limited", S), "cis-5-12-cpu-limited", _drop("cpus")),
        Weakening("service-no-pids-limit", "5.29", S, "no PIDs limit command", checks(
            "test_cis_5_29_pids_limit", S), "cis-5-29-pids-limit", drop_pids_limit=True),
        Weakening("redis-caps", "5.4", R, "no capability drop", checks(
            "test_cis_5_4_capabilities_dropped", R), "cis-5-4-capabilities-dropped",
            _drop("capabilities")),
        Weakening("redis-new-privileges", "5.26", R, "no no-new-privileges", checks(
            "test_cis_5_26_no_new_privileges", R), "cis-5-26-no-new-privileges",
            _set(securityOpts=[])),
        Weakening("redis-no-healthcheck", "5.27", R, "healthcheck NONE", checks(
            "test_cis_5_27_health_is_healthy", R), "cis-5-27-healthcheck",
            _set(healthcheck={"tests": ["NONE"]})),
        Weakening("redis-default-bridge", "5.30", R, "also on the default bridge", checks(
            "test_cis_5_30_own_network", R), "cis-5-30-not-default-bridge",
            _append("networksAdvanced", {"name": "bridge"})),
        Weakening("redis-no-memory-limit", "5.11", R, "no memory limit", checks(
            "test_cis_5_11_memory_limited", R) | checks(
            "test_lucia_redis_maxmemory_below_container_limit"), "cis-5-11-memory-limited",
            _drop("memory", "memorySwap")),
        Weakening("redis-no-cpu-limit", "5.12", R, "no CPU limit", checks(
            "test_cis_5_12_cpu_limited", R), "cis-5-12-cpu-limited", _drop("cpus")),
    )),
    Deployment("proof3", (
        Weakening("service-new-privileges", "5.26", S, "no no-new-privileges", checks(
            "test_cis_5_26_no_new_privileges", S), "cis-5-26-no-new-privileges",
            _set(securityOpts=[])),
        Weakening("service-no-healthcheck", "5.27", S, "healthcheck NONE", checks(
            "test_cis_5_27_health_is_healthy", S), "cis-5-27-healthcheck",
            _set(healthcheck={"tests": ["NONE"]}, wait=False)),
        Weakening("service-default-bridge", "5.30", S, "also on the default bridge", checks(
            "test_cis_5_30_own_network", S), "cis-5-30-not-default-bridge",
            _append("networksAdvanced", {"name": "bridge"})),
        Weakening("service-extra-port", "5.8/5.9", S, "a second published port", checks(
            "test_cis_5_8_only_expected_ports_published", S), None, _append("ports", {
                "internal": 9999, "external": 5391, "ip": "127.0.0.1", "protocol": "tcp"}),
            why_no_policy="an unprivileged port on 127.0.0.1 is allowed; which ports a "
                          "container needs is the gate's knowledge"),
        Weakening("service-shared-propagation", "5.20", S, "a bind mount, rshared", checks(
            "test_cis_5_20_no_shared_mount_propagation", S) | checks(
            "test_cis_5_6_no_sensitive_host_mounts", S), "cis-5-20-no-shared-propagation",
            _append("mounts", {"type": "bind", "source": SHARED_MOUNT, "target": "/shared",
                               "bindOptions": {"propagation": "rshared"}})),
        Weakening("service-restart-always", "5.15", S, "restart always", checks(
            "test_cis_5_15_restart_policy", S), "cis-5-15-restart-policy",
            lambda i: (i.update(restart="always"), i.pop("maxRetryCount", None))),
        Weakening("redis-published-everywhere", "5.14", R, "Redis published on 0.0.0.0",
                  checks("test_cis_5_14_ports_bound_to_loopback", R)
                  | checks("test_cis_5_8_only_expected_ports_published", R),
                  "cis-5-14-bound-to-loopback", _set(ports=[
                      {"internal": 6379, "external": 5392, "ip": "0.0.0.0",
                       "protocol": "tcp"}])),
        Weakening("redis-seccomp-unconfined", "5.22", R, "seccomp=unconfined", checks(
            "test_cis_5_22_seccomp_not_disabled", R), "cis-5-22-seccomp-not-disabled",
            _append("securityOpts", "seccomp=unconfined")),
        # exec,suid,dev: Docker adds noexec,nosuid,nodev to a tmpfs unless told otherwise,
        # and the gate reads the mount the kernel has.
        Weakening("redis-tmpfs-exec", "5.13", R, "tmpfs mounted exec,suid,dev",
                  checks("test_cis_5_13_read_only_rootfs", R), "cis-5-13-tmpfs-hardened",
                  _set(tmpfs={"/tmp": "rw,exec,suid,dev,size=16m"})),
        # Docker refuses a retry count with `always` (so would the provider's Create).
        Weakening("redis-restart-always", "5.15", R, "restart always", checks(
            "test_cis_5_15_restart_policy", R), "cis-5-15-restart-policy",
            lambda i: (i.update(restart="always"), i.pop("maxRetryCount", None))),
        Weakening("redis-no-pids-limit", "5.29", R, "no PIDs limit command", checks(
            "test_cis_5_29_pids_limit", R), "cis-5-29-pids-limit", drop_pids_limit=True),
        Weakening("redis-host-etc", "5.6", R, "bind mount of /etc", checks(
            "test_cis_5_6_no_sensitive_host_mounts", R), "cis-5-6-no-sensitive-host-mounts",
            _append("mounts", {"type": "bind", "source": "/etc", "target": "/host-etc",
                               "readOnly": True})),
        Weakening("redis-acl-open", "LUCIA-REDIS", R, "the service user may run anything",
                  checks("test_lucia_redis_service_user_acl_denies_destructive_commands",
                         "flushall", "flushdb", "config", "debug", "keys", "shutdown")
                  | checks("test_lucia_redis_service_user_gets_noperm", "flushall",
                           "flushdb", "config", "keys", "shutdown"), None,
                  _boot(" ".join(f"-{c}" for c in redis_program.DENIED_COMMANDS), ""),
                  why_no_policy=RUNTIME_ONLY),
        Weakening("redis-no-password", "LUCIA-REDIS", R, "no requirepass", checks(
            "test_lucia_redis_unauthenticated_commands_get_noauth"), None,
            _boot('"requirepass $REDIS_PASSWORD" ', ""), why_no_policy=RUNTIME_ONLY),
        Weakening("redis-unprotected", "LUCIA-REDIS", R, "protected-mode no", checks(
            "test_lucia_redis_protected_mode"), None,
            _boot('"protected-mode yes"', '"protected-mode no"'), why_no_policy=RUNTIME_ONLY),
        Weakening("redis-no-aof", "LUCIA-REDIS", R, "appendonly no", checks(
            "test_lucia_redis_aof_on"), None, _boot('"appendonly yes"', '"appendonly no"'),
            why_no_policy=RUNTIME_ONLY),
        Weakening("redis-fsync-no", "LUCIA-REDIS", R, "appendfsync no", checks(
            "test_lucia_redis_appendfsync"), None,
            _boot('"appendfsync $REDIS_APPENDFSYNC"', '"appendfsync no"'),
            why_no_policy=RUNTIME_ONLY),
        Weakening("redis-evicts", "LUCIA-REDIS", R, "maxmemory-policy allkeys-lru", checks(
            "test_lucia_redis_noeviction"), None,
            _boot('"maxmemory-policy noeviction"', '"maxmemory-policy allkeys-lru"'),
            why_no_policy=RUNTIME_ONLY),
    )),
    Deployment("proof4", (
        Weakening("service-weak-image", "4.1/4.6/4.8/4.10", S,
                  "image: USER root, HEALTHCHECK NONE, setuid, a token, :latest",
                  _image_kills(S), None, image=WEAK_SERVICE_IMAGE,
                  why_no_policy=IMAGE_ONLY),
        Weakening("service-host-uts", "5.21", S, "UTS mode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "service-UTSMode"), None,
            engine={"uts_mode": "host"}, why_no_policy=NO_UTS_INPUT),
        Weakening("service-host-userns", "5.31", S, "usernsMode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "service-UsernsMode"),
            "cis-5-31-no-host-userns", _set(usernsMode="host")),
        Weakening("service-host-device", "5.18", S, "/dev/null passed through", checks(
            "test_cis_5_18_no_host_devices", S), "cis-5-18-no-host-devices",
            _set(devices=[{"hostPath": "/dev/null", "containerPath": "/dev/proof"}])),
        # Not beside a root user: this engine's sandbox cannot start a privileged root
        # container ("unable to apply caps").
        Weakening("redis-privileged", "5.5", R, "privileged", checks(
            "test_cis_5_5_not_privileged", R) | checks("test_cis_5_4_capabilities_dropped", R)
            | checks("test_cis_5_22_seccomp_not_disabled", R), "cis-5-5-not-privileged",
            _set(privileged=True)),
        Weakening("redis-host-ipc", "5.17", R, "ipcMode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "redis-IpcMode"),
            "cis-5-17-no-host-ipc", _set(ipcMode="host")),
        Weakening("redis-shared-propagation", "5.20", R, "a bind mount, rshared", checks(
            "test_cis_5_20_no_shared_mount_propagation", R) | checks(
            "test_cis_5_6_no_sensitive_host_mounts", R), "cis-5-20-no-shared-propagation",
            _append("mounts", {"type": "bind", "source": SHARED_MOUNT, "target": "/shared",
                               "bindOptions": {"propagation": "rshared"}})),
        # In the host's PID namespace, PID 1 is the host's init: the checks that read
        # /proc/1/status (capabilities, seccomp, no-new-privileges) see it and fail too.
        Weakening("service-host-pid", "5.16", S, "pidMode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "service-PidMode")
            | _pid1_kills(S), "cis-5-16-no-host-pid", _set(pidMode="host")),
        Weakening("service-host-ipc", "5.17", S, "ipcMode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "service-IpcMode"),
            "cis-5-17-no-host-ipc", _set(ipcMode="host")),
        Weakening("redis-host-userns", "5.31", R, "usernsMode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "redis-UsernsMode"),
            "cis-5-31-no-host-userns", _set(usernsMode="host")),
        Weakening("redis-host-uts", "5.21", R, "UTS mode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "redis-UTSMode"), None,
            engine={"uts_mode": "host"}, why_no_policy=NO_UTS_INPUT),
        Weakening("redis-host-device", "5.18", R, "/dev/null passed through", checks(
            "test_cis_5_18_no_host_devices", R), "cis-5-18-no-host-devices",
            _set(devices=[{"hostPath": "/dev/null", "containerPath": "/dev/proof"}])),
        Weakening("redis-weak-image", "4.1/4.6/4.8/4.10", R,
                  "image: USER root, HEALTHCHECK NONE, setuid, a token, :latest",
                  _image_kills(R), None, image=WEAK_REDIS_IMAGE, why_no_policy=IMAGE_ONLY),
        *(Weakening(f"{c}-apparmor-unconfined", "5.2", c, "apparmor=unconfined", checks(
            "test_cis_5_2_apparmor_profile", c), "cis-5-2-apparmor-not-unconfined",
            _append("securityOpts", "apparmor=unconfined"), needs_apparmor=True)
          for c in (S, R)),
    ), dockerfile=True),
    # Both on the host network (loopback only): the service reaches Redis at 127.0.0.1.
    Deployment("proof5", (
        # Both on the host network, so each sees the other's listener: one row.
        Weakening("both-host-network", "5.10", S, "networkMode host (service and Redis)",
                  checks("test_cis_5_10_no_host_network", S, R)
                  | checks("test_cis_5_30_own_network", S, R)
                  | checks("test_cis_5_8_only_expected_ports_published", S)
                  | checks("test_lucia_only_expected_listening_sockets", S, R),
                  "cis-5-10-no-host-network", lambda i: (
                      i.update(networkMode="host", networksAdvanced=[], ports=[]),
                      _env("redis://redis:6379", "redis://127.0.0.1:6379")(i)),
                  others=((R, lambda i: (
                      i.update(networkMode="host", networksAdvanced=[], ports=[]),
                      _boot('"bind 0.0.0.0"', '"bind 127.0.0.1"')(i))),)),
        Weakening("redis-host-pid", "5.16", R, "pidMode host", checks(
            "test_cis_5_16_5_17_5_21_5_31_no_host_namespaces", "redis-PidMode")
            | _pid1_kills(R), "cis-5-16-no-host-pid", _set(pidMode="host")),
    )),
)

# Checks of Dockerfiles, run on WEAK_DOCKERFILE (ADD, an untagged FROM) in `dockerfile`
# deployments; judged by name, their parameter being the file.
DOCKERFILE_KILLS = frozenset({"test_cis_4_9_copy_not_add", "test_lucia_pinned_base_images",
                              "test_lucia_dockerfile_passes_hadolint"})
