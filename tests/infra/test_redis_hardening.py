"""Redis beyond CIS (LUCIA-REDIS-*): authentication, the service's ACL user, persistence
and memory settings, checked inside the running Redis container."""

from __future__ import annotations

import docker
import pytest

from tests.support.deployed import Deployed, base_stack


@pytest.fixture(scope="module")
def redis_cli(engine: docker.DockerClient, deployed: Deployed):
    container = engine.containers.get(deployed.container_name("redis"))
    # The stack's own secrets (in the swarm stack they are files, not in the environment).
    passwords = {"lucia": deployed.secrets["redisServicePassword"],
                 "default": deployed.secrets["redisPassword"]}

    def run(*args: str, user: str | None = None) -> str:
        auth = [] if user is None else ["--user", user, "--pass", passwords[user],
                                        "--no-auth-warning"]
        # REDISCLI_AUTH is set in the container for the healthcheck; unset it here so
        # "unauthenticated" really is.
        result = container.exec_run(["sh", "-c", 'unset REDISCLI_AUTH; exec redis-cli "$@"',
                                     "redis-cli", *auth, *args])
        return result.output.decode().strip()
    return run


def test_lucia_redis_unauthenticated_commands_get_noauth(redis_cli) -> None:
    assert redis_cli("get", "lucia:x").startswith("NOAUTH")


DENIED = [["flushall"], ["flushdb"], ["config", "get", "*"], ["debug", "sleep", "0"],
          ["keys", "*"], ["shutdown"]]


@pytest.mark.parametrize("command", DENIED, ids=lambda c: c[0])
def test_lucia_redis_service_user_acl_denies_destructive_commands(redis_cli,
                                                                  command: list[str]) -> None:
    verdict = redis_cli("acl", "dryrun", "lucia", *command, user="default")
    assert f"no permissions to run the '{command[0]}" in verdict


@pytest.mark.parametrize("command", [c for c in DENIED if c[0] != "debug"], ids=lambda c: c[0])
def test_lucia_redis_service_user_gets_noperm(redis_cli, command: list[str]) -> None:
    # DEBUG is refused even earlier (enable-debug-command no), so it is checked by dryrun.
    assert redis_cli(*command, user="lucia").startswith("NOPERM")


@pytest.fixture(scope="module")
def redis_config(redis_cli):
    def config(name: str) -> str:
        lines = redis_cli("config", "get", name, user="default").splitlines()
        assert len(lines) == 2, f"CONFIG GET {name} answered {lines}"
        return lines[1]
    return config


# Fixed requirements, not the stack's own declarations (a stack declaring `appendfsync no`
# must fail): every stack keeps an AOF synced at least every second; staging and ci, whose
# fault gates demand zero lost acknowledged turns, sync on every write.
FSYNC_ALWAYS = {"staging", "ci"}


def test_lucia_redis_protected_mode(redis_config) -> None:
    assert redis_config("protected-mode") == "yes", "set protected-mode yes"


def test_lucia_redis_aof_on(redis_config) -> None:
    assert redis_config("appendonly") == "yes", "Redis runs without its AOF; appendonly yes"


def test_lucia_redis_appendfsync(redis_config, deployed: Deployed) -> None:
    fsync = redis_config("appendfsync")
    required = {"always"} if base_stack(deployed.stack) in FSYNC_ALWAYS else {"always",
                                                                               "everysec"}
    assert fsync in required, f"appendfsync {fsync} on {deployed.stack}; want {required}"


def test_lucia_redis_maxmemory_below_container_limit(redis_config, engine: docker.DockerClient,
                                                     deployed: Deployed) -> None:
    """maxmemory is set and below the memory limit Docker enforces (from docker inspect),
    so Redis refuses writes before the kernel kills it."""
    limit = engine.containers.get(deployed.container_name("redis")).attrs["HostConfig"][
        "Memory"]
    maxmemory = int(redis_config("maxmemory"))
    assert limit > 0, "Redis has no container memory limit (CIS 5.11)"
    assert 0 < maxmemory < limit, f"maxmemory {maxmemory} is not below the limit {limit}"


def test_lucia_redis_noeviction(redis_config) -> None:
    policy = redis_config("maxmemory-policy")
    assert policy == "noeviction", f"maxmemory-policy {policy} silently drops sessions"
