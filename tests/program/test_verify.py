"""`make verify`'s own bookkeeping: a layer that collects nothing is a failure, a layer of
plain passes counts them (an empty parametrization must never read as green)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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


def test_every_layer_of_every_profile_runs_something_that_exists() -> None:
    for profile, layers in verify.LAYERS.items():
        assert [name for name, _ in layers].count("checklist") == 1, profile
        for name, paths in layers:
            assert paths is verify.CHECKLIST or paths, f"{profile} {name}: no paths"
            for path in paths or []:
                assert (REPO / path).exists(), f"{profile} {name}: {path} does not exist"


def test_a_checklist_run_that_cannot_start_is_a_broken_layer() -> None:
    """The stack is not up: the tool exits 2 and leaves no JUnit, so verify reports the
    layer as one that could not run (never as a pass with nothing in it)."""
    try:
        result = verify.run_checklist(STACK)
        assert result.exit_code == 2
        assert (result.passed, result.skipped) == (0, [])
        assert not (REPO / "reports" / STACK / "checklist.xml").exists()
    finally:
        shutil.rmtree(REPO / "reports" / STACK, ignore_errors=True)


def test_a_gates_table_without_a_profile_or_a_layer_kind_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "gates.toml"
    table.write_text('[[full]]\nname = "hardening"\npytest = ["tests/infra"]\n')
    with pytest.raises(verify.GatesError, match="no layers for the live profile"):
        verify.load_layers(table)
    table.write_text('[[full]]\nname = "x"\n[[live]]\nname = "y"\ntool = "checklist"\n')
    with pytest.raises(verify.GatesError, match="layer 'x' of full names neither"):
        verify.load_layers(table)
