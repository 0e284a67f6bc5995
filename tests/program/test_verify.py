"""`make verify`'s own bookkeeping: a layer that collects nothing is a failure, a layer of
plain passes counts them (an empty parametrization must never read as green)."""

from __future__ import annotations

import shutil

from lucia_deploy import verify
from lucia_deploy.images import REPO

STACK = "verify-probe"


def test_a_layer_that_collects_nothing_fails() -> None:
    try:
        result = verify.run_layer(STACK, "empty", ["tests/program/test_docs.py", "-k",
                                                   "no_such_test"], [])
        assert result.failed == ["empty: collected no tests"]
        assert result.passed == 0
    finally:
        shutil.rmtree(REPO / "reports" / STACK, ignore_errors=True)


def test_a_layer_of_passes_counts_them() -> None:
    try:
        result = verify.run_layer(STACK, "docs", ["tests/program/test_docs.py"], [])
        assert result.failed == []
        assert result.passed >= 5
    finally:
        shutil.rmtree(REPO / "reports" / STACK, ignore_errors=True)
