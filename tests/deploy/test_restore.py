"""`make restore` against the real engine, with the volume's deletion made slow: the
snapshot copied in must survive it (restore used to start `rm -rf /data/*` in the
background and copy the snapshot 0.2 s later, so a slow delete removed the restored file)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from lucia_deploy import backup, images
from lucia_stack.config import LOCAL_REDIS_IMAGE
from tests.support.redis_server import RedisServer

STACK = "restore-test"


@pytest.fixture
def engine() -> docker.DockerClient:
    client = docker.from_env()
    if not images.image_exists(client, LOCAL_REDIS_IMAGE):
        images.build_redis(client, LOCAL_REDIS_IMAGE)
    return client


@pytest.fixture
def volume(engine: docker.DockerClient) -> Iterator[str]:
    name = f"lucia-{STACK}-{uuid.uuid4().hex[:6]}-data"
    engine.volumes.create(name)
    # What a stack leaves behind: old data, an AOF directory, a dot file.
    engine.containers.run(LOCAL_REDIS_IMAGE, entrypoint=["sh", "-c",
                          "mkdir -p /data/appendonlydir && echo old > /data/dump.rdb && "
                          "echo x > /data/appendonlydir/a.aof && echo y > /data/.hidden"],
                          user="redis", volumes={name: {"bind": "/data", "mode": "rw"}},
                          remove=True, network_disabled=True)
    yield name
    engine.volumes.get(name).remove(force=True)


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        with server.client() as client:
            client.set("lucia:restored", "yes")
            client.save()
    finally:
        server.stop()
    return tmp_path / "redis" / "dump.rdb"


def test_restore_survives_a_slow_delete(engine: docker.DockerClient, volume: str,
                                        snapshot: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    slow = ["sh", "-c", "sleep 2; " + backup.CLEAR_DATA[2]]
    monkeypatch.setattr(backup, "CLEAR_DATA", slow)
    backup.restore(engine, STACK, snapshot,
                   {"redis_volume": volume, "redis_image": LOCAL_REDIS_IMAGE})
    # The volume now holds exactly the snapshot, with the AOF rebuilt from it.
    listing = engine.containers.run(
        LOCAL_REDIS_IMAGE, entrypoint=["sh", "-c", "ls -A /data; cat /data/dump.rdb | wc -c"],
        user="redis", volumes={volume: {"bind": "/data", "mode": "ro"}}, remove=True,
        network_disabled=True).decode().split()
    assert ".hidden" not in listing
    assert "dump.rdb" in listing
    assert int(listing[-1]) > 4  # not the old 4-byte "old\n"
    value = engine.containers.run(
        LOCAL_REDIS_IMAGE, entrypoint=["sh", "-c",
                                       "redis-server --dir /data --appendonly yes --daemonize "
                                       "yes --save '' && sleep 1 && redis-cli GET lucia:restored"],
        user="redis", volumes={volume: {"bind": "/data", "mode": "rw"}}, remove=True,
        network_disabled=True).decode().strip()
    assert value == "yes"
