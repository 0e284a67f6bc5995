"""More than one worker process: as many as the container's CPU limit allows, under
gunicorn's arbiter, each an aiohttp worker with its own SO_REUSEPORT listening socket.

gunicorn (docs/service.md, "Worker processes" says why) restarts a worker that dies or
stops answering its heartbeat, and on SIGTERM asks every worker to drain: each stops
accepting, lets in-flight requests finish within LUCIA_SHUTDOWN_TIMEOUT_SECONDS, runs the
app's cleanup contexts (Redis, the LLM clients, Home Assistant) and exits; then the arbiter
exits 0. Metrics are summed across the workers by prometheus-client's multiprocess mode,
from files in one directory on the container's /tmp tmpfs."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web
from aiohttp.worker import GunicornWebWorker

# gunicorn ships no type information (no py.typed); what lucia uses of it is typed here.
from gunicorn import glogging  # type: ignore[import-untyped]
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from lucia.settings import Settings

log = logging.getLogger("lucia")

CGROUP = Path("/sys/fs/cgroup")
# Time a worker has, after its requests drained, to run its cleanup contexts before the
# arbiter kills it (graceful_timeout = the drain + this); the containers' stop grace
# (STOP_GRACE_SECONDS, 15 s) covers both at the default 10 s drain.
CLEANUP_SECONDS = 2.0
# lucia.metrics.MULTIPROCESS_ENV, not imported from there: that would import
# prometheus-client before the variable is set.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 `cpu.max`, "QUOTA PERIOD" in microseconds: the CPUs the quota allows per
    period, or None for no limit ("max")."""
    fields = text.split()
    if len(fields) == 2 and fields[0] == "max":
        return None
    if len(fields) != 2 or not all(field.isdigit() and int(field) > 0 for field in fields):
        raise ValueError(f"cpu.max: expected 'QUOTA PERIOD' (positive, or QUOTA max), got "
                         f"{text.strip()!r}")
    return int(fields[0]) / int(fields[1])


def cgroup_cpu_limit(root: Path = CGROUP) -> float | None:
    """This process's cgroup CPU quota in CPUs, None when there is none (or none to read):
    cgroup v2's cpu.max, else v1's cpu.cfs_quota_us / cpu.cfs_period_us (quota -1: none).
    Docker's `--cpus` (the stack's serviceCpus) sets exactly this quota."""
    try:
        return parse_cpu_max((root / "cpu.max").read_text())
    except (OSError, ValueError):
        pass
    for controller in ("cpu", "cpu,cpuacct"):
        try:
            quota = int((root / controller / "cpu.cfs_quota_us").read_text())
            period = int((root / controller / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota / period if quota > 0 and period > 0 else None
    return None


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, which a cpuset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(setting: str, limit: float | None, cpus: int) -> int:
    """LUCIA_WORKERS: a number as given; `auto`, one worker per CPU of the limit.

    A fractional limit rounds up (1.5 CPUs: 2 workers): one worker, single-threaded, can
    use at most one CPU, so rounding down would leave the rest of the quota unused, while
    two workers share 1.5 CPUs and the kernel throttles them to it. Never more workers
    than CPUs to run on, never fewer than one."""
    if setting != "auto":
        return int(setting)
    if limit is None:
        return max(1, cpus)
    return max(1, min(cpus, math.ceil(limit)))


def workers_for(settings: Settings) -> int:
    return worker_count(settings.workers, cgroup_cpu_limit(), available_cpus())


@dataclass(frozen=True, slots=True)
class MetricsDir:
    """prometheus-client's multiprocess directory: every worker writes its own files
    there, and /metrics sums them (lucia/metrics.py)."""

    path: Path
    owned: bool  # made for this run (removed at exit) rather than named by the operator

    @classmethod
    def prepare(cls, configured: str) -> MetricsDir:
        """Make or empty the directory: files left by an earlier run would be summed in."""
        if not configured:
            return cls(Path(tempfile.mkdtemp(prefix="lucia-metrics-")), owned=True)
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return cls(path, owned=False)

    def remove(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)


class Worker(GunicornWebWorker):
    """aiohttp's gunicorn worker, woken at once by SIGTERM.

    aiohttp's worker handles SIGTERM by only clearing `alive`, which its serving loop
    looks at once a second; SIGQUIT's and SIGINT's handler also wakes the loop. Both then
    drain the same way (stop accepting, finish in-flight requests, clean up), so SIGTERM
    takes that handler and the drain starts without the wait."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.handle_quit(sig, frame)


class JsonLogger(glogging.Logger):
    """gunicorn's own lines (worker booted, exited, restarted; signals) as lucia's JSON
    lines: its loggers lose the plain-text handlers gunicorn gives them and propagate to
    the root logger's JSON handler (lucia/logs.py), which every worker inherits."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in [h for h in logger.handlers if getattr(h, "_gunicorn", False)]:
                logger.removeHandler(handler)
            logger.propagate = True


class ProcessId(logging.Filter):
    """Every line says which process wrote it (`pid`), the arbiter or one of the workers."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.pid = os.getpid()
        return True


async def _stopped(app: web.Application) -> None:
    log.info("worker stopped: requests drained, connections closed")


RunnerFactory = Callable[[], Awaitable[web.AppRunner]]


class Server(BaseApplication):
    """gunicorn configured in code, from the settings alone: no configuration file, no
    GUNICORN_CMD_ARGS, no control socket (the root filesystem is read-only)."""

    def __init__(self, settings: Settings, workers: int, metrics_dir: MetricsDir) -> None:
        self._settings = settings
        self._metrics_dir = metrics_dir
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        self._options: dict[str, object] = {
            "bind": [f"{host}:{settings.port}"],
            "workers": workers,
            "worker_class": Worker,
            # Each worker binds its own socket: the kernel spreads connections evenly
            # over them, where one shared socket lets whichever worker wakes first take
            # a burst of connections.
            "reuse_port": True,
            # Import the code once in the arbiter (workers share those pages and restart
            # fast); each worker builds its own app, so connections are per worker.
            "preload_app": True,
            "graceful_timeout": math.ceil(settings.shutdown_timeout_seconds + CLEANUP_SECONDS),
            "logger_class": JsonLogger,
            "loglevel": settings.log_level.lower(),
            "control_socket_disable": True,
            "proc_name": "lucia",
            "child_exit": self._child_exit,
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> RunnerFactory:
        # Imported here, not at the top: prometheus-client chooses its multiprocess mode
        # when first imported, after main() has set PROMETHEUS_MULTIPROC_DIR.
        from lucia.app import create_app

        # What the arbiter holds now is shared with the workers it forks: frozen, the
        # collector leaves it alone, so collections do not copy those pages into every
        # worker, and a worker's exit does not walk them (0.9 s of CPU each, unfrozen).
        gc.freeze()
        settings = self._settings

        async def runner() -> web.AppRunner:
            """Runs in each worker, after the fork, on its own event loop."""
            asyncio.get_running_loop().set_debug(settings.build_configuration == "Debug")
            app = create_app(settings)
            # The app's on_cleanup signal runs its cleanup contexts first (aiohttp adds
            # them at construction), so this line comes after every resource is closed.
            app.on_cleanup.append(_stopped)
            log.info("worker started")
            return web.AppRunner(app, access_log=None,
                                 shutdown_timeout=settings.shutdown_timeout_seconds)
        return runner

    def _child_exit(self, arbiter: Any, worker: Any) -> None:
        """A worker exited: its `live*` gauges go (its counters stay, so sums never drop)."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, str(self._metrics_dir.path))


def serve(settings: Settings, workers: int) -> None:
    """Run `workers` worker processes until SIGTERM; exits 0 once every worker drained."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(ProcessId())
    metrics_dir = MetricsDir.prepare(settings.metrics_dir)
    os.environ[MULTIPROC_ENV] = str(metrics_dir.path)
    arbiter = os.getpid()
    try:
        Server(settings, workers, metrics_dir).run()
    finally:
        # A worker is a fork of this very call stack and leaves it by SystemExit too: only
        # the arbiter removes the directory.
        if os.getpid() == arbiter:
            metrics_dir.remove()
