"""The command line of a generated document: write it, or `--check` that the committed
file is current (exit 1 when stale)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lucia_deploy.images import REPO


def main(target: Path, render: Callable[[], str], description: str | None,
         argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{target.relative_to(REPO)} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target.relative_to(REPO)}")
    return 0
