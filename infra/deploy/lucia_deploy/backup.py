"""Backup and restore of a stack's Redis data.

backup: BGSAVE as Redis's admin user (inside the container, so no port is needed), wait
until it finishes, and copy /data/dump.rdb out of the container: a consistent
point-in-time snapshot. On the swarm engine the container is the Redis service's running
task, and the admin password is its secret file rather than its environment.

restore: into a *stopped* stack only (its containers removed, e.g. `make down`): the
volume is created if missing and emptied, the snapshot is copied in as dump.rdb, and a
throwaway Redis with AOF off loads it and then turns AOF on, which rewrites the AOF from
the loaded data. (Redis 7 with AOF on and no AOF starts empty rather than from the RDB.)"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.models.containers

from lucia_deploy import apply, services, stacks
from lucia_deploy.images import REPO
from lucia_deploy.progress import say
from lucia_deploy.waiting import WaitTimeout, wait_until
from lucia_stack.swarm import REDIS_PASSWORD_FILE

BACKUPS = REPO / "backups"
# Everything in the data volume, dot files (an AOF directory's manifest) included.
CLEAR_DATA = ["sh", "-c", "rm -rf /data/* /data/.[!.]* /data/..?*"]


class MissingBackup(RuntimeError):
    """The snapshot to restore does not exist."""


class BackupError(RuntimeError):
    pass


def _text(result: docker.models.containers.ExecResult) -> str:
    """What a command run with exec_run printed. Not streamed, so its output is bytes (the
    stubs type it for stream=True too)."""
    assert isinstance(result.output, bytes)
    return result.output.decode().strip()


# A container's REDISCLI_AUTH is in its environment; a Swarm task's is the admin password's
# secret file (swarm.REDIS_PASSWORD_FILE), read inside the task so it never leaves it.
REDIS_CLI = ["sh", "-c", 'if [ -z "${REDISCLI_AUTH:-}" ] && [ -r "$0" ]; then '
             'REDISCLI_AUTH="$(cat "$0")"; export REDISCLI_AUTH; fi; exec redis-cli "$@"',
             REDIS_PASSWORD_FILE]


def _redis_cli(container: docker.models.containers.Container, *args: str) -> str:
    result = container.exec_run([*REDIS_CLI, *args])
    output = _text(result)
    if result.exit_code != 0 or output.startswith(("ERR", "NOAUTH", "NOPERM")):
        raise BackupError(f"redis-cli {' '.join(args)}: {output}")
    return output


def backup(client: docker.DockerClient, stack: str, target: Path | None) -> Path:
    outputs = stacks.read_outputs(stack)
    try:
        container = services.running_container(client, outputs, "redis")
    except docker.errors.NotFound:
        where = (f"the Redis service {outputs['redis_service']} has no running task on this "
                 "node; on a swarm of several nodes run the backup on the node Redis is "
                 "placed on (lucia:redisPlacement)") if outputs.get("redis_service") else \
            f"{outputs.get('redis_container')} is not running"
        raise BackupError(f"cannot back up {stack}: {where}") from None
    before = _redis_cli(container, "LASTSAVE")
    _redis_cli(container, "BGSAVE")
    _wait(lambda: _redis_cli(container, "LASTSAVE") != before, 60, "BGSAVE finishing")
    keys = _redis_cli(container, "DBSIZE")
    stream, _ = container.get_archive("/data/dump.rdb")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.extractfile("dump.rdb")
        if member is None:
            raise BackupError("no dump.rdb in the container")
        snapshot = member.read()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = target or BACKUPS / f"{stack}-{stamp}.rdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(snapshot)
    target.chmod(0o600)
    say(f"backup of {stack}: {keys} keys, {target.stat().st_size} bytes")
    return target


def _wait(check: Callable[[], bool], timeout: float, what: str,
          detail: Callable[[], str] = lambda: "") -> None:
    try:
        wait_until(check, timeout, what)
    except WaitTimeout as exc:
        raise BackupError(f"{exc} {detail()}".strip()) from None


def _rebuild_aof(client: docker.DockerClient, image: str, volume_name: str) -> None:
    loader = client.containers.run(
        image, entrypoint=["redis-server", "--appendonly", "no", "--dir", "/data",
                           "--save", "", "--bind", "127.0.0.1"],
        user="redis", volumes={volume_name: {"bind": "/data", "mode": "rw"}},
        network_disabled=True, read_only=True, cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"], detach=True)
    try:
        def cli(*args: str) -> str:
            return _text(loader.exec_run(["redis-cli", *args]))

        _wait(lambda: "loading:0" in cli("INFO", "persistence"), 60, "the snapshot loading",
              detail=lambda: loader.logs(tail=10).decode())
        keys = cli("DBSIZE")
        cli("CONFIG", "SET", "appendonly", "yes")

        def rewritten() -> bool:
            info = cli("INFO", "persistence")
            return all(flag in info for flag in ("aof_enabled:1", "aof_rewrite_in_progress:0",
                                                 "aof_rewrite_scheduled:0"))
        _wait(rewritten, 120, "the AOF rebuild")
        say(f"loaded {keys} keys and rebuilt the AOF")
        cli("SHUTDOWN", "SAVE")
        loader.wait(timeout=30)
    finally:
        loader.remove(force=True)


def restore(client: docker.DockerClient, stack: str, source: Path,
            outputs: dict[str, Any]) -> None:
    """`outputs` are the stack's outputs as the program records them (the volume and the
    image it would use), so the names come from the program, not from a guess."""
    if not source.is_file():
        raise MissingBackup(f"{source} does not exist")
    if apply.stack_containers(client, stacks.PROJECT, stack) or services.stack_services(
            client, stacks.PROJECT, stack):
        raise BackupError(f"stack {stack} is running; `make down STACK={stack}` first "
                          "(the volume is kept)")
    volume_name, image = outputs["redis_volume"], outputs["redis_image"]
    try:
        client.volumes.get(volume_name)
    except docker.errors.NotFound:
        client.volumes.create(volume_name, labels={"io.lucia.project": stacks.PROJECT,
                                                   "io.lucia.stack": stack,
                                                   "io.lucia.component": "redis-data"})
    # A helper on the Redis image, as its own user, hardened like the stack's containers.
    helper = client.containers.create(
        image, entrypoint=["sleep", "300"], user="redis",
        volumes={volume_name: {"bind": "/data", "mode": "rw"}}, network_disabled=True,
        read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges:true"])
    try:
        helper.start()
        # Empty the volume and wait for it: exec_run returns when `rm` has finished, so
        # the snapshot copied in next cannot be deleted by a slow `rm` still running.
        emptied = helper.exec_run(CLEAR_DATA)
        if emptied.exit_code != 0:
            raise BackupError(f"could not empty {volume_name}: "
                              f"{_text(emptied)}")
        uid = int(_text(helper.exec_run(["id", "-u"])))
        gid = int(_text(helper.exec_run(["id", "-g"])))
        payload = source.read_bytes()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo("dump.rdb")
            info.size, info.uid, info.gid, info.mode = len(payload), uid, gid, 0o600
            archive.addfile(info, io.BytesIO(payload))
        if not helper.put_archive("/data", buffer.getvalue()):
            raise BackupError("could not copy the snapshot into the volume")
    finally:
        helper.remove(force=True)
    _rebuild_aof(client, image, volume_name)
    say(f"restored {source} into volume {volume_name}; `make up STACK={stack}` to start")
