"""The checklists parse into steps: the real files (every runnable block found, every CIS
item kept, ids unique, criteria present) and malformed ones (refused, naming the line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lucia_deploy.checklist import parse, report, run, target
from lucia_deploy.images import REPO
from tests.checklist import sample

CIS_ITEMS = {"4.2", "4.3", "4.4", "4.5", "4.7", "4.11", "4.12", "5.1", "5.3", "5.19", "5.23",
             "5.24", "5.25", "5.28", "5.29", "6.1", "6.2"}


@pytest.fixture(scope="module")
def real() -> parse.Checklist:
    return parse.load()


def test_the_real_checklists_parse_into_steps_with_criteria(real: parse.Checklist) -> None:
    testing = [s for s in real.steps if s.source == "checklists/TESTING-CHECKLIST.md"]
    assert len(testing) >= 20
    assert testing[0].id == "S1.1"
    assert testing[0].section == "1. Service startup"
    for step in real.steps:
        assert step.purpose, step.id
        assert step.criterion, step.id
        assert "Pass:" not in step.purpose, f"{step.id}: criterion left in the purpose"
    assert len(set(real.ids)) == len(real.ids)


@pytest.mark.parametrize("path", parse.SOURCES, ids=lambda p: p.name)
def test_every_runnable_fence_is_a_runnable_step(path: Path) -> None:
    """Counted line by line here, independently of the parser: a malformed block cannot
    silently drop out of a run."""
    marked = sum(line.strip() in ("```bash runnable", "```bash runnable simulators")
                 for line in path.read_text().splitlines())
    parsed = parse.parse_text(path.read_text(), path.name)
    assert marked >= 5
    assert sum(step.runnable for step in parsed.steps) == marked


def test_runnable_blocks_live_only_in_the_checklists_the_tool_walks() -> None:
    """A runnable block in the docs or the README would never run: there are none."""
    for path in [*REPO.glob("docs/*.md"), REPO / "README.md",
                 *(p for p in REPO.glob("checklists/*.md") if p not in parse.SOURCES)]:
        assert parse.runnable_fences(path.read_text()) == 0, path


def test_every_cis_manual_item_has_an_id_and_a_criterion(real: parse.Checklist) -> None:
    cis = {s.id.removeprefix("CIS-"): s for s in real.steps if s.id.startswith("CIS-")}
    assert set(cis) == CIS_ITEMS
    assert all(s.source == "checklists/cis-docker-manual.md" for s in cis.values())
    assert sum(s.runnable for s in cis.values()) >= 5
    assert sum(bool(s.helper) for s in cis.values()) >= 5


def test_the_setup_block_exports_what_the_tool_provides(real: parse.Checklist) -> None:
    exported = re.findall(r"^export (\w+)=", "".join(real.setup), re.MULTILINE)
    assert exported == list(run.VARIABLES)
    stack = target.Target("dev", {"service_url": "http://127.0.0.1:5000"}, "k", "full", "")
    assert list(stack.environment()) == list(run.VARIABLES)


def test_the_sign_off_fields_come_from_the_checklist(real: parse.Checklist) -> None:
    assert real.sign_off[0] == "Tester name"
    assert "Recommendation for production" in real.sign_off
    assert report.tester_fields(real.sign_off) == [
        "Notes and issues", "Performance observations (S8)", "Recommendation for production"]


def _scripts(real: parse.Checklist) -> list[tuple[str, str]]:
    return [(s.id, block) for s in real.steps for block in (s.script, s.helper) if block]


def test_every_chat_turn_a_block_sends_names_its_session_lucia_run(
        real: parse.Checklist) -> None:
    """Sessions a run creates carry the lucia-run- prefix (so a leftover can be found),
    and every block that makes one deletes it."""
    for step_id, script in _scripts(real):
        if "/api/chat" not in script or "-X POST" not in script:
            continue
        turns = [line for line in script.splitlines() if "/api/chat" in line
                 and "-X POST" in line and "'{oops'" not in line
                 and "text/plain" not in line and "$BIG" not in line]
        for line in turns:
            assert re.search(r'sessionId\\?": \\?"(\$S|lucia-run-)', line), \
                f"{step_id}: a chat turn without a lucia-run- session: {line}"
        if "sessionId" in script and re.search(r"\$S\b", script):
            assert re.search(r"^S=lucia-run-", script, re.MULTILINE), step_id
            assert re.search(r"-X DELETE .*api/sessions/\$S", script), \
                f"{step_id} creates a session and never deletes it"


def test_a_step_splits_into_purpose_criterion_and_blocks() -> None:
    checklist = sample.checklist()
    assert checklist.ids == ["R1", "R2", "SIM1", "M1", "M2"]
    r1, r2, sim, m1, m2 = checklist.steps
    assert (r1.purpose, r1.criterion, r1.kind) == ("Says one.", "prints `one`.", "runnable")
    assert r1.script.startswith('echo R1 >> "$RAN"')
    assert (r2.purpose, r2.criterion) == ("Fails on purpose.", "exit 0 (it never is).")
    assert (sim.kind, sim.section) == (parse.SIMULATORS, "2. Second")
    assert (m1.kind, m1.helper, m1.script) == (parse.MANUAL, "echo helped\n", "")
    assert (m2.kind, m2.command) == (parse.MANUAL, "")
    assert r1.line == 11  # the line of its `**R1**`
    assert checklist.setup == ["export STACK=dev\n"]


def test_a_step_digest_changes_with_its_command() -> None:
    before = sample.checklist().step("R1")
    after = sample.checklist(sample.TEXT.replace("echo one", "echo uno")).step("R1")
    assert before.digest != after.digest
    assert sample.checklist().step("R2").digest == sample.checklist().step("R2").digest


MALFORMED = {
    "an indented runnable fence": (
        "## A\n\n**A1** x. Pass: y.\n\n  ```bash runnable\n  true\n  ```\n",
        "1 fences say `runnable` but 0 steps"),
    "a misspelt kind": (
        "## A\n\n**A1** x. Pass: y.\n\n```bash runnable simulator\ntrue\n```\n",
        "unknown block ```bash runnable simulator"),
    "a runnable block outside a step": (
        "## A\n\n```bash runnable\ntrue\n```\n", ":3: a runnable block outside a step"),
    "a block never closed": (
        "## A\n\n**A1** x. Pass: y.\n\n```bash runnable\ntrue\n", ":5: this block is never"),
    "a step without a criterion": (
        "## A\n\n**A1** x.\n\n```bash runnable\ntrue\n```\n", ":3: A1 has no pass criterion"),
    "two runnable blocks in a step": (
        "## A\n\n**A1** x. Pass: y.\n\n```bash runnable\ntrue\n```\n\n```bash runnable\n"
        "true\n```\n", "A1 has a second runnable block"),
    "two criteria": ("## A\n\n**A1** x. Pass: y.\n\nPass: z.\n", "A1 has a second `Pass:`"),
    "a step after the sign-off": (
        "## A\n\n**A1** x. Pass: y.\n\n## Tester sign-off\n\n**A2** z. Pass: y.\n",
        ":7: a step after the sign-off"),
    "an id that does not parse": (
        "## A\n\n**A1** x. Pass: y.\n\n**A 2** z. Pass: y.\n", ":5: `**A 2**` looks like a step"),
}


@pytest.mark.parametrize(("text", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_checklist_is_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(parse.ChecklistError, match=re.escape(message)):
        parse.parse_text(text, "bad.md")


def test_an_id_used_twice_across_checklists_is_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    first.write_text("## A\n\n**X1** one. Pass: y.\n")
    second.write_text("## B\n\n**X1** two. Pass: y.\n")
    with pytest.raises(parse.ChecklistError, match=r"b\.md:3: id X1 is already used at "):
        parse.load([first, second])
