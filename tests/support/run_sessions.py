"""Sessions our own runs create, and their clean-up (docs/capacity.md): every load, bench,
gate or checklist run names its sessions `lucia-run-<kind>-<run id>-...` and deletes them
when it ends, so repeated runs on a stack never fill its Redis. The deletion is
`lucia-deploy prune --apply` (inside the service container, with its own credentials)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_PREFIX = "lucia-run-"


def run_prefix(kind: str) -> str:
    """A prefix unique to one run, so two runs never delete each other's sessions."""
    return f"{RUN_PREFIX}{kind}-{uuid.uuid4().hex[:6]}-"


# The admin password inside a Redis container: its environment (the container engine) or
# its Swarm secret file (the swarm engine, lucia_stack/swarm.py).
ADMIN_CLI = ('[ -n "${REDISCLI_AUTH:-}" ] || REDISCLI_AUTH="$(cat /run/secrets/redis-password)"; '
             'export REDISCLI_AUTH; exec redis-cli "$@"')


def redis_keys(redis_container: str) -> int:
    """DBSIZE of a stack's Redis, as its admin (inside the container)."""
    result = subprocess.run(["docker", "exec", redis_container, "sh", "-c", ADMIN_CLI,
                             "redis-cli", "DBSIZE"], capture_output=True, text=True,
                            check=True)
    return int(result.stdout.strip())


@dataclass(frozen=True, slots=True)
class Cleanup:
    deleted: int
    keys_before: int
    keys_after: int

    def line(self) -> str:
        return (f"cleanup: deleted {self.deleted} session(s) this run created; Redis keys "
                f"{self.keys_before} before the run, {self.keys_after} after")


def forget_run(stack: str, redis_container: str, prefix: str, keys_before: int) -> Cleanup:
    """Delete every session whose id starts with `prefix`; report the keys before/after."""
    result = subprocess.run(
        [sys.executable, "-m", "lucia_deploy.cli", "prune", "--stack", stack,
         "--prefix", prefix, "--apply"], capture_output=True, text=True, check=False,
        cwd=REPO)
    found = re.search(r"deleted (\d+) session", result.stdout)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"cleaning up {prefix}* on {stack} failed: "
                           f"{result.stdout[-500:]} {result.stderr[-500:]}")
    return Cleanup(int(found.group(1)), keys_before, redis_keys(redis_container))
