"""Every fenced block marked `bash runnable` in the checklists and docs runs against the
deployed stack and must succeed, so a documented command cannot drift from the service."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.deployed import Deployed

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*REPO.glob("checklists/*.md"), *REPO.glob("docs/*.md"), REPO / "README.md"])
# ```bash runnable: safe on any stack (no device moves; what it creates it deletes).
# ```bash runnable simulators: only where the simulators run (the full profile).
BLOCK = re.compile(r"^```bash runnable( simulators)?\n(.*?)^```", re.DOTALL | re.MULTILINE)


def runnable_blocks() -> list[tuple[str, bool, str]]:
    blocks = []
    for source in SOURCES:
        text = source.read_text()
        for match in BLOCK.finditer(text):
            line = text[:match.start()].count("\n") + 1
            blocks.append((f"{source.relative_to(REPO)}:{line}", bool(match.group(1)),
                           match.group(2)))
    return blocks


BLOCKS = runnable_blocks()


def test_every_runnable_block_is_collected() -> None:
    """The parser finds exactly the blocks the sources mark runnable (counted line by line,
    independently of the regex), so a malformed block cannot silently drop out."""
    marked = sum(line.strip() in ("```bash runnable", "```bash runnable simulators")
                 for source in SOURCES for line in source.read_text().splitlines())
    assert marked >= 10
    assert len(BLOCKS) == marked


@pytest.mark.parametrize(("where", "needs_simulators", "script"), BLOCKS,
                         ids=[w for w, _, _ in BLOCKS])
def test_documented_command_succeeds(deployed: Deployed, where: str, needs_simulators: bool,
                                     script: str) -> None:
    if needs_simulators and deployed.live:
        pytest.skip(f"{where} is marked `simulators`: not safe on the {deployed.profile} "
                    "profile")
    env = {**os.environ, "STACK": deployed.stack, "LUCIA_URL": deployed.url,
           "LUCIA_KEY": deployed.api_key}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (f"{where} failed ({result.returncode}):\n{script}\n"
                                    f"stdout: {result.stdout[-1500:]}\n"
                                    f"stderr: {result.stderr[-1500:]}")
