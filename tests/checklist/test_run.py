"""The runner on the sample checklist, with a scripted tester: automatic and interactive
walks, stop and resume, a single step again, timeouts, and the API key kept out."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lucia_deploy.checklist import run
from lucia_deploy.checklist.record import FAILED, NOT_DONE, PASSED, SKIPPED, Record
from lucia_deploy.waiting import WaitTimeout, wait_until
from tests.checklist import sample
from tests.checklist.scripted import ScriptedTester


def runner(tmp_path: Path, tester: ScriptedTester, *, auto: bool = False, live: bool = False,
           text: str = sample.TEXT, record: Record | None = None,
           key: str = "") -> run.Runner:
    env = {"STACK": "probe", "LUCIA_URL": "http://127.0.0.1:9", "LUCIA_KEY": key,
           "RAN": str(tmp_path / "ran")}
    return run.Runner(sample.checklist(text), record or sample.record(), tmp_path / "run",
                      env, live, auto, tester)


def verdicts(record: Record) -> dict[str, str]:
    return {step_id: result.verdict for step_id, result in record.results.items()}


def test_auto_runs_the_runnable_steps_and_records_manual_ones_not_done(tmp_path: Path) -> None:
    tester = ScriptedTester()  # no answers: any question would stop the walk
    walk = runner(tmp_path, tester, auto=True)
    assert walk.walk() is True
    assert verdicts(walk.record) == {"R1": PASSED, "R2": FAILED, "SIM1": PASSED,
                                     "M1": NOT_DONE, "M2": NOT_DONE}
    assert tester.prompts == []
    assert sample.ran(tmp_path / "ran") == ["R1", "R2", "SIM1"]
    r2 = walk.record.results["R2"]
    assert r2.exit_code == 3
    assert r2.output.count("boom line") == 60
    assert "boom line 60" in tester.transcript  # a failure's output is shown in the log
    assert (tmp_path / "run" / "progress.json").is_file()


def test_on_the_live_profile_a_simulators_step_is_skipped_with_the_reason(
        tmp_path: Path) -> None:
    walk = runner(tmp_path, ScriptedTester(), auto=True, live=True)
    walk.walk()
    sim = walk.record.results["SIM1"]
    assert sim.verdict == SKIPPED
    assert "live profile" in sim.note
    assert "SIM1" not in sample.ran(tmp_path / "ran")


def test_an_interactive_walk_runs_blocks_and_asks_the_tester(tmp_path: Path) -> None:
    tester = ScriptedTester([
        "", "",                    # R1: run it; no note
        "", "saw boom",            # R2: run it; a note
        "s", "no simulators",      # SIM1: skip it, why
        "r", "p", "",              # M1: run the helper, pass
        "f", "the light stayed on",  # M2: fail, what was seen
    ])
    walk = runner(tmp_path, tester)
    assert walk.walk() is True
    assert verdicts(walk.record) == {"R1": PASSED, "R2": FAILED, "SIM1": SKIPPED,
                                     "M1": PASSED, "M2": FAILED}
    results = walk.record.results
    assert results["R2"].note == "saw boom"
    assert results["SIM1"].note == "no simulators"
    assert (results["M1"].command, results["M1"].output.strip(), results["M1"].exit_code) \
        == ("echo helped\n", "helped", 0)
    assert results["M2"].note == "the light stayed on"
    assert results["M2"].command == ""  # no helper ran
    assert sample.ran(tmp_path / "ran") == ["R1", "R2"]
    assert tester.answers == []
    shown = tester.transcript
    assert "Pass: the helper says `helped`." in shown   # the criterion is shown
    assert '  │ echo R1 >> "$RAN"; echo one' in shown     # and the command
    assert "  > one" in shown                            # and its output, as it comes


def test_a_bad_answer_is_asked_again_and_a_failed_manual_step_needs_a_note(
        tmp_path: Path) -> None:
    text = sample.TEXT.split("## 1. First")[0] + "## M\n\n**M2** Manual. Pass: fine.\n"
    tester = ScriptedTester(["maybe", "f", "", "", "it broke"])
    walk = runner(tmp_path, tester, text=text)
    walk.walk()
    assert walk.record.results["M2"].verdict == FAILED
    assert walk.record.results["M2"].note == "it broke"
    assert any("answer with one of" in line for line in tester.shown)


def test_stop_then_resume_walks_only_what_is_left(tmp_path: Path) -> None:
    first = runner(tmp_path, ScriptedTester(["", "", "", "", "", "", "q"]))
    assert first.walk() is False
    assert list(first.record.results) == ["R1", "R2", "SIM1"]

    saved = Record.load(tmp_path / "run")
    assert verdicts(saved) == {"R1": PASSED, "R2": FAILED, "SIM1": PASSED}
    tester = ScriptedTester(["p", "", "s", "not today"])
    second = runner(tmp_path, tester, record=saved)
    assert second.walk() is True
    assert verdicts(second.record) == {"R1": PASSED, "R2": FAILED, "SIM1": PASSED,
                                       "M1": PASSED, "M2": SKIPPED}
    assert sample.ran(tmp_path / "ran") == ["R1", "R2", "SIM1"]  # nothing ran twice
    assert verdicts(Record.load(tmp_path / "run")) == verdicts(second.record)


def test_the_end_of_input_stops_the_walk_with_the_progress_saved(tmp_path: Path) -> None:
    walk = runner(tmp_path, ScriptedTester(["", ""]))
    assert walk.walk() is False
    assert list(Record.load(tmp_path / "run").results) == ["R1"]


def test_a_single_step_is_walked_again_by_id(tmp_path: Path) -> None:
    walk = runner(tmp_path, ScriptedTester(), auto=True)
    walk.walk()
    first = walk.record.results["R2"]
    fixed = sample.TEXT.replace("exit 3\n", "exit 0\n")
    again = runner(tmp_path, ScriptedTester(), auto=True, text=fixed,
                   record=Record.load(tmp_path / "run"))
    assert again.walk(["R2"]) is True
    assert sample.ran(tmp_path / "ran") == ["R1", "R2", "SIM1", "R2"]
    assert again.record.results["R2"].verdict == PASSED
    assert again.record.results["R2"].when >= first.when
    assert again.record.results["R1"] == walk.record.results["R1"]  # untouched


def test_a_step_whose_text_changed_is_walked_again_on_resume(tmp_path: Path) -> None:
    runner(tmp_path, ScriptedTester(), auto=True).walk()
    changed = sample.TEXT.replace("echo one", "echo uno")
    tester = ScriptedTester()
    walk = runner(tmp_path, tester, auto=True, text=changed,
                  record=Record.load(tmp_path / "run"))
    walk.walk()
    assert sample.ran(tmp_path / "ran") == ["R1", "R2", "SIM1", "R1"]
    assert walk.record.results["R1"].output.strip() == "uno"


def test_a_block_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    started = time.monotonic()
    execution = run.execute("echo before; sleep 30 & sleep 30", {}, timeout=0.5,
                            cwd=tmp_path)
    assert time.monotonic() - started < 10
    assert execution.exit_code == -1
    assert execution.output.startswith("before\n")
    assert "killed: still running after 0.5 s" in execution.output


def test_a_block_runs_under_errexit_and_pipefail(tmp_path: Path) -> None:
    assert run.execute("false | true\necho after", {}, 5, cwd=tmp_path).exit_code == 1
    assert run.execute("echo $UNSET_VARIABLE_X", {}, 5, cwd=tmp_path).exit_code == 1
    assert run.execute("echo $STACK", {"STACK": "probe"}, 5, cwd=tmp_path).output == "probe\n"


def test_the_api_key_never_reaches_the_record(tmp_path: Path) -> None:
    text = sample.TEXT.split("## 1. First")[0] + (
        "## K\n\n**K1** Echoes the key. Pass: exit 0.\n\n```bash runnable\n"
        'echo "key=$LUCIA_KEY"\n```\n')
    walk = runner(tmp_path, ScriptedTester(), auto=True, text=text, key="secret-key-123")
    walk.walk()
    assert walk.record.results["K1"].output == "key=<LUCIA_KEY>\n"
    assert "secret-key-123" not in (tmp_path / "run" / "progress.json").read_text()


@pytest.mark.parametrize("answers", [["q"], ["", "", "q"]])
def test_q_stops_at_any_question(tmp_path: Path, answers: list[str]) -> None:
    walk = runner(tmp_path, ScriptedTester(answers))
    assert walk.walk() is False
    assert len(walk.record.results) == len(answers) // 3


def test_what_a_block_leaves_running_is_killed_when_it_ends(tmp_path: Path) -> None:
    started = time.monotonic()
    execution = run.execute("sleep 30 &\necho $! > pid; echo done", {}, 5, cwd=tmp_path)
    assert (execution.exit_code, execution.output) == (0, "done\n")
    assert time.monotonic() - started < 4
    pid = int((tmp_path / "pid").read_text())
    assert _gone_within(pid, 2.0), f"the background sleep ({pid}) is still running"


def _gone_within(pid: int, seconds: float) -> bool:
    """Killed: no process, or a zombie waiting for init (a SIGKILL lands within moments,
    not at once)."""
    def gone() -> bool:
        try:
            return "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        except FileNotFoundError:
            return True
    try:
        wait_until(gone, seconds, f"process {pid} gone", interval=0.05)
    except WaitTimeout:
        return False
    return True
