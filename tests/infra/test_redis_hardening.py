"""Redis beyond CIS (LUCIA-REDIS-*): authentication, the service's ACL user, persistence
and memory settings, checked inside the running Redis container."""

from __future__ import annotations

import docker
import pytest

from tests.infra.conftest import Deployed


@pytest.fixture(scope="module")
def redis_cli(engine: docker.DockerClient, deployed: Deployed):
    container = engine.containers.get(deployed.container_name("redis"))
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])

    def run(*args: str, user: str | None = None) -> str:
        auth = [] if user is None else ["--user", user, "--pass",
                                        env["REDIS_SERVICE_PASSWORD"] if user == "lucia"
                                        else env["REDIS_PASSWORD"], "--no-auth-warning"]
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


def test_lucia_redis_persistence_and_memory(redis_cli, deployed: Deployed) -> None:
    def config(name: str) -> str:
        return redis_cli("config", "get", name, user="default").splitlines()[1]
    assert config("protected-mode") == "yes"
    assert config("appendonly") == "yes"
    assert config("appendfsync") == deployed.outputs["redis_appendfsync"]
    assert config("maxmemory-policy") == "noeviction"
    maxmemory = int(config("maxmemory"))
    assert 0 < maxmemory < deployed.outputs["redis_memory_limit_bytes"]
