"""Start lucia and the simulators as real processes on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from lucia_deploy.waiting import WaitTimeout, wait_until
from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


def wait_http(url: str, process: subprocess.Popen[str], timeout: float = 15.0) -> None:
    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with urllib.request.urlopen(url, timeout=1):
            return True
    try:
        wait_until(answers, timeout, f"{url} answering", ignore=(OSError,))
    except WaitTimeout as exc:
        raise RuntimeError(str(exc)) from None


def start(module: str, *args: str, env: dict[str, str] | None = None,
          ready_path: str = "/", port: int | None = None) -> tuple[subprocess.Popen[str], str]:
    port = port or free_port()
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    command = [sys.executable, "-m", module, *args]
    if module != "lucia":  # simulators and bare references take --port
        command += ["--port", str(port)]
    else:
        environment["LUCIA_PORT"] = str(port)
        environment["LUCIA_HOST"] = "127.0.0.1"
    process = subprocess.Popen(command, env=environment, cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + ready_path, process)
    except RuntimeError:
        process.kill()
        output = process.communicate()[0]
        raise RuntimeError(f"{module} failed to start:\n{output}") from None
    return process, base
