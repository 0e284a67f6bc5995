"""A real `redis-server` process on a free loopback port, for tests that need Redis.

Tests never mock Redis: they start this, and the outage tests kill and restart it."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import redis

from lucia_deploy.waiting import WaitTimeout, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    # As the stacks run it (infra/pulumi/lucia_stack/redis.py): a maxmemory, noeviction.
    MAXMEMORY = "256mb"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run `make bootstrap` "
                               "(or apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir),
             "--maxmemory", self.MAXMEMORY, "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({process.returncode}) on port "
                                   f"{self.port}")
            return bool(client.ping())
        try:
            wait_until(answers, timeout, f"redis-server on port {self.port}", interval=0.05,
                       ignore=(redis.ConnectionError,))
        except WaitTimeout as exc:
            raise RuntimeError(str(exc)) from None
        client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing anything, like a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=5)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)
            self.process = None
