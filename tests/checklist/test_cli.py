"""`python -m lucia_deploy.checklist` end to end on the sample checklist and a stack that
exists only as state (.state/<stack>/outputs.json): the record it leaves, its exit
status, what it refuses, and an interactive run answered on stdin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lucia_deploy import stacks
from lucia_deploy.checklist.__main__ import main
from lucia_deploy.checklist.record import FAILED, NOT_DONE, PASSED, SKIPPED, Record
from lucia_deploy.images import REPO
from lucia_deploy.verify import junit_cases
from tests.checklist import sample
from tests.checklist.scripted import ScriptedTester

STACK = "checklist-probe"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stack that is "up" as far as its state says (nothing answers at its URL: the
    sample's blocks never call it)."""
    directory = tmp_path / "state"
    (directory / STACK).mkdir(parents=True)
    (directory / STACK / "outputs.json").write_text(json.dumps(
        {"service_url": "http://127.0.0.1:9"}))
    monkeypatch.setattr(stacks, "STATE", directory)
    for name in ("LUCIA_PROFILE", *stacks.FROM_ENVIRONMENT.values()):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAN", str(tmp_path / "ran"))
    return directory


def _auto(checklist: Path, run_dir: Path, *extra: str) -> int:
    return main(["--stack", STACK, "--auto", "--checklist", str(checklist), "--run-dir",
                 str(run_dir), *extra], terminal=ScriptedTester())


def test_an_automatic_run_leaves_the_record_and_fails_with_a_failed_step(
        tmp_path: Path, state: Path) -> None:
    run_dir = tmp_path / "run"
    assert _auto(sample.write(tmp_path), run_dir) == 1
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "junit.xml", "progress.json", "report.html", "report.md"]
    outcomes = {case.name: case.outcome for case in junit_cases(run_dir / "junit.xml")}
    assert outcomes == {"sample::R1": "passed", "sample::R2": "failed",
                        "sample::SIM1": "skipped", "sample::M1": "skipped",
                        "sample::M2": "skipped"}
    record = Record.load(run_dir)
    assert (record.stack, record.mode, record.profile) == (STACK, "auto", "live")
    assert record.results["SIM1"].verdict == SKIPPED  # no simulators: the live profile
    assert record.results["M1"].verdict == NOT_DONE


def test_an_automatic_run_passes_when_every_runnable_step_does(tmp_path: Path,
                                                             state: Path) -> None:
    fixed = sample.write(tmp_path, sample.TEXT.replace("exit 3\n", "exit 0\n"))
    assert _auto(fixed, tmp_path / "run") == 0


def test_one_step_is_run_again_in_a_saved_run(tmp_path: Path, state: Path) -> None:
    checklist, run_dir = sample.write(tmp_path), tmp_path / "run"
    _auto(checklist, run_dir)
    before = Record.load(run_dir)
    code = main(["--stack", STACK, "--auto", "--checklist", str(checklist), "--resume",
                 str(run_dir), "--step", "R1"], terminal=ScriptedTester())
    assert code == 1  # R2's failure is still in the record
    assert sample.ran(tmp_path / "ran") == ["R1", "R2", "R1"]
    after = Record.load(run_dir)
    assert after.results["R2"] == before.results["R2"]
    assert after.results["M1"] == before.results["M1"]
    assert after.updated >= before.updated


@pytest.mark.parametrize(("argv", "message"), [
    (["--step", "S9.9"], "no step S9.9; the steps are R1, R2, SIM1, M1, M2"),
    (["--stack", "never-up-probe"], "stack never-up-probe is not up"),
])
def test_a_run_that_cannot_start_exits_2(tmp_path: Path, state: Path, argv: list[str],
                                         message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--stack", STACK, "--auto", "--checklist", str(sample.write(tmp_path)),
                 "--run-dir", str(tmp_path / "run"), *argv], terminal=ScriptedTester())
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_saved_run_is_never_started_over(tmp_path: Path, state: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    checklist, run_dir = sample.write(tmp_path), tmp_path / "run"
    _auto(checklist, run_dir)
    saved = (run_dir / "progress.json").read_text()
    assert _auto(checklist, run_dir) == 2
    assert f"go on with --resume {run_dir}" in capsys.readouterr().err
    assert (run_dir / "progress.json").read_text() == saved


def test_a_run_is_resumed_only_against_its_own_stack(tmp_path: Path, state: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    checklist, run_dir = sample.write(tmp_path), tmp_path / "run"
    _auto(checklist, run_dir)
    progress = json.loads((run_dir / "progress.json").read_text())
    progress["stack"] = "dev"
    (run_dir / "progress.json").write_text(json.dumps(progress))
    code = main(["--stack", STACK, "--checklist", str(checklist), "--resume", str(run_dir)],
                terminal=ScriptedTester())
    assert code == 2
    assert "is a run against dev" in capsys.readouterr().err


def test_a_run_is_resumed_only_in_its_own_profile(tmp_path: Path, state: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    checklist, run_dir = sample.write(tmp_path), tmp_path / "run"
    _auto(checklist, run_dir)
    progress = json.loads((run_dir / "progress.json").read_text())
    progress["profile"] = "full"
    (run_dir / "progress.json").write_text(json.dumps(progress))
    code = main(["--stack", STACK, "--checklist", str(checklist), "--resume", str(run_dir)],
                terminal=ScriptedTester())
    assert code == 2
    assert "was walked in the full profile" in capsys.readouterr().err


def test_a_run_stopped_before_the_end_exits_3_with_its_progress_saved(
        tmp_path: Path, state: Path) -> None:
    """An interactive record is signed: an empty name is asked again."""
    run_dir = tmp_path / "run"
    code = main(["--stack", STACK, "--checklist", str(sample.write(tmp_path)), "--run-dir",
                 str(run_dir)], terminal=ScriptedTester(["", "Ada", "", "", "q"]))
    assert code == 3
    record = Record.load(run_dir)
    assert (record.tester, list(record.results)) == ("Ada", ["R1"])
    assert "overall: incomplete" not in (run_dir / "report.md").read_text()
    assert "**Overall: INCOMPLETE**" in (run_dir / "report.md").read_text()


def test_an_interactive_run_answered_on_stdin(tmp_path: Path, state: Path) -> None:
    answers = ["Grace Hopper",          # tester name
               "", "",                  # R1: run, no note
               "", "boom as expected",  # R2: run, note
               # SIM1 is skipped without a question: the stack has no simulators
               "r", "p", "",            # M1: run the helper, pass
               "f", "the light stayed on",  # M2: fail with what was seen
               "tested on a laptop",    # sign-off: Notes and issues
               "not yet"]               # sign-off: Recommendation for production
    run_dir = tmp_path / "run"
    completed = subprocess.run(
        [sys.executable, "-m", "lucia_deploy.checklist", "--stack", STACK, "--checklist",
         str(sample.write(tmp_path)), "--run-dir", str(run_dir)],
        input="\n".join(answers) + "\n", capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "LUCIA_STATE_DIR": str(state), "RAN": str(tmp_path / "ran")},
        timeout=60, check=False)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    record = Record.load(run_dir)
    assert record.tester == "Grace Hopper"
    assert {k: r.verdict for k, r in record.results.items()} == {
        "R1": PASSED, "R2": FAILED, "SIM1": SKIPPED, "M1": PASSED, "M2": FAILED}
    assert record.sign_off == {"Notes and issues": "tested on a laptop",
                               "Recommendation for production": "not yet"}
    text = (run_dir / "report.md").read_text()
    assert "| Tester name | Grace Hopper |" in text
    assert "| Failed steps (ids) | R2, M2 |" in text
    assert "Note: the light stayed on" in text
    assert "helped" in text
    assert "overall: fail" in completed.stdout


def test_the_docs_name_only_options_and_make_variables_that_exist() -> None:
    from lucia_deploy.checklist.__main__ import build_parser

    options = {option for action in build_parser()._actions
               for option in action.option_strings}
    guide = (REPO / "docs" / "testing.md").read_text()
    section = guide[guide.index("## The checklist run"):guide.index("## Debugging")]
    intro = (REPO / "checklists" / "TESTING-CHECKLIST.md").read_text().split("## 1.")[0]
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", section + intro))
    assert named >= {"--auto", "--resume", "--step"}
    assert named <= options - {"-h"}, named - options
    recipe = (REPO / "Makefile").read_text().split("\nchecklist:")[1].split("\n\n")[0]
    for variable in set(re.findall(r"\b(AUTO|TESTER|RESUME|STEP)=", section + intro)):
        assert f"$({variable})" in recipe, variable
