"""The signed record: markdown, HTML and JUnit from a run's progress. A failed step's
output is whole in each; a passing one's is trimmed; verify reads the JUnit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lucia_deploy import verify
from lucia_deploy.checklist import report
from lucia_deploy.checklist.parse import Checklist
from lucia_deploy.checklist.record import (
    FAILED,
    NOT_DONE,
    PASSED,
    SKIPPED,
    Image,
    Record,
    Result,
    summarise,
)
from tests.checklist import sample

LONG = "".join(f"line {n}\n" for n in range(1, 101))


@pytest.fixture
def checklist() -> Checklist:
    return sample.checklist()


@pytest.fixture
def record(checklist: Checklist) -> Record:
    """R1 passed with 100 lines, R2 failed with 100 lines, SIM1 skipped, M1 passed by the
    tester after its helper, M2 never walked."""
    steps = {step.id: step for step in checklist.steps}
    recorded = sample.record(
        tester="Ada Lovelace",
        images=[Image("service", "lucia-probe-service", "lucia:0.1.0",
                      "sha256:" + "ab" * 32, "0.1.0", "0978bcb", "2026-01-01T10:00:00Z"),
                Image("redis", "lucia-probe-redis", "lucia-redis:7.0", problem="gone")],
        sign_off={"Notes and issues": "none", "Recommendation for production": "go"})
    recorded.results = {
        "R1": Result("R1", steps["R1"].digest, PASSED, "", steps["R1"].script, LONG, 0, 0.5),
        "R2": Result("R2", steps["R2"].digest, FAILED, "saw boom", steps["R2"].script,
                     LONG.replace("line 50\n", "line 50 ```the cause```\n"), 3, 1.25),
        "SIM1": Result("SIM1", steps["SIM1"].digest, SKIPPED, "no simulators here"),
        "M1": Result("M1", steps["M1"].digest, PASSED, "", "echo helped\n", "helped\n", 0),
    }
    return recorded


MARKS = {"markdown": "#### {}", "html": 'id="{}"', "junit": 'name="{}"'}


def _render(kind: str, checklist: Checklist, record: Record) -> str:
    if kind == "markdown":
        return report.markdown(checklist, record)
    if kind == "html":
        return report.html_report(checklist, record)
    return report.junit(checklist, record).decode()


@pytest.mark.parametrize("kind", MARKS)
def test_a_failed_step_keeps_its_whole_output_and_a_passed_one_is_trimmed(
        kind: str, checklist: Checklist, record: Record) -> None:
    text, mark = _render(kind, checklist, record), MARKS[kind]
    passed = text.split(mark.format("R1"))[1].split(mark.format("R2"))[0]
    failed = text.split(mark.format("R2"))[1].split(mark.format("SIM1"))[0]
    for n in (1, 49, 51, 100):
        assert re.search(rf"line {n}\b", failed), n
        assert bool(re.search(rf"line {n}\b", passed)) == (n in (1, 100)), n
    assert "line 50 " in failed
    assert "lines trimmed" not in failed
    assert "… 60 lines trimmed (the step passed) …" in passed


def test_trim_keeps_head_and_tail_and_says_what_it_left_out() -> None:
    trimmed = report.trim(LONG, whole=False).splitlines()
    assert trimmed[:2] == ["line 1", "line 2"]
    assert trimmed[-1] == "line 100"
    assert "… 60 lines trimmed (the step passed) …" in trimmed
    assert report.trim(LONG, whole=True) == LONG
    wide = "x" * 10_000
    assert len(report.trim(wide, whole=False)) < 4_200
    assert report.trim(wide, whole=True) == wide


def test_the_junit_reads_back_through_verify(tmp_path: Path, checklist: Checklist,
                                             record: Record) -> None:
    path = tmp_path / "junit.xml"
    path.write_bytes(report.junit(checklist, record))
    cases = {case.name: case for case in verify.junit_cases(path)}
    assert {name: case.outcome for name, case in cases.items()} == {
        "sample::R1": "passed", "sample::R2": "failed", "sample::SIM1": "skipped",
        "sample::M1": "passed", "sample::M2": "skipped"}
    assert cases["sample::SIM1"].message == "skipped: no simulators here"
    assert cases["sample::M2"].message == "not done: not walked in this run"


def test_the_junit_survives_terminal_colours_and_control_characters(
        tmp_path: Path, checklist: Checklist, record: Record) -> None:
    record.results["R2"].output = "\x1b[31mred\x1b[0m and a NUL \x00 and a bell \x07\n"
    path = tmp_path / "junit.xml"
    path.write_bytes(report.junit(checklist, record))
    failure = verify.ElementTree.parse(path).getroot().find("testcase[@name='R2']/failure")
    assert failure is not None
    assert "red and a NUL \ufffd and a bell \ufffd" in (failure.text or "")
    assert failure.get("type") == "exit 3"


def test_the_record_names_tester_stack_images_and_summary(checklist: Checklist,
                                                         record: Record) -> None:
    text = report.markdown(checklist, record)
    assert "| Tester | Ada Lovelace |" in text
    assert "| Stack | probe: the full profile, because the sample says so |" in text
    assert "| service | lucia-probe-service | lucia:0.1.0 | sha256:" + "ab" * 32 in text
    assert "| redis | lucia-probe-redis | lucia-redis:7.0 | gone |" in text
    assert "**Overall: FAIL**: 2 passed, 1 failed, 1 skipped, 1 not done (of 5 steps)." in text
    assert "Failed: R2." in text


def test_the_sign_off_is_filled_from_the_run_and_the_tester(checklist: Checklist,
                                                            record: Record) -> None:
    summary = summarise(checklist.steps, record)
    assert dict(report.sign_off(checklist, record, summary)) == {
        "Tester name": "Ada Lovelace", "Overall result (pass / fail)": "fail",
        "Failed steps (ids)": "R2", "Notes and issues": "none",
        "Recommendation for production": "go"}
    record.results.pop("R2")
    record.results["M2"] = Result("M2", checklist.step("M2").digest, NOT_DONE)
    summary = summarise(checklist.steps, record)
    values = dict(report.sign_off(checklist, record, summary))
    assert values["Overall result (pass / fail)"] == "incomplete"
    assert values["Failed steps (ids)"] == "none"


def test_a_verdict_for_an_older_text_of_the_step_is_not_reported(checklist: Checklist,
                                                                 record: Record) -> None:
    record.results["R2"].digest = "stale"
    summary = summarise(checklist.steps, record)
    assert summary.failed == []
    assert summary.counts[NOT_DONE] == 2


def test_the_html_is_self_contained_and_escaped(checklist: Checklist, record: Record) -> None:
    record.results["R1"].output = "<script>alert(1)</script>\n"
    page = report.html_report(checklist, record)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)=["'](?!#)""", page), "an outside resource"
    assert "<style>" in page
    assert page.count('class="step ') == len(checklist.steps)
    assert '<span class="badge failed">failed</span>' in page


def test_a_markdown_fence_outlasts_backticks_in_the_output(checklist: Checklist,
                                                           record: Record) -> None:
    text = report.markdown(checklist, record)
    failed = text[text.index("#### R2"):]
    assert "\n````text\n" in failed  # the output holds ``` so its fence is longer


def test_write_puts_the_three_reports_in_the_run_directory(tmp_path: Path,
                                                          checklist: Checklist,
                                                          record: Record) -> None:
    written = report.write(tmp_path / "run", checklist, record)
    assert [p.name for p in written] == ["report.md", "report.html", "junit.xml"]
    assert all(p.stat().st_size > 500 for p in written)
