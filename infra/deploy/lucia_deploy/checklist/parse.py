"""The checklists as steps, parsed from their markdown (the single source: ids, commands
and pass criteria are read here, never copied into code).

A step is a paragraph that starts with its bold id (`**S5.2**`), the sentence saying what
it checks, a pass criterion (`Pass: ...`, in the same paragraph or its own), and at most
one fenced block of each kind:

- ```` ```bash runnable ````: run by the tool; its exit status is the verdict. Safe on
  any stack (no device moves; what it creates it deletes).
- ```` ```bash runnable simulators ````: the same, but only where the stack runs its own
  simulators (the full profile); skipped with the reason on the live profile.
- ```` ```bash ````: a helper for a manual step: shown, run only when the tester asks,
  and the tester gives the verdict.

A step without a runnable block is manual. Plain blocks before the first step are the
set-up (`Before you start`); the table under `## Tester sign-off` lists the sign-off
fields. Anything the parser cannot place is an error naming its line, so a malformed
block can never drop out of a run unnoticed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from lucia_deploy.images import REPO

CHECKLIST = REPO / "checklists" / "TESTING-CHECKLIST.md"
CIS_MANUAL = REPO / "checklists" / "cis-docker-manual.md"
SOURCES = (CHECKLIST, CIS_MANUAL)

RUNNABLE, SIMULATORS, MANUAL = "runnable", "simulators", "manual"
# A fence's info string -> what the block is. Anything else mentioning `runnable` is an
# error (a typo such as `bash runnable simulator` must not quietly become documentation).
FENCES = {"bash runnable": RUNNABLE, "bash runnable simulators": SIMULATORS,
          "bash": "helper", "": "text", "text": "text", "json": "text"}
STEP = re.compile(r"^\*\*([A-Z][A-Za-z]*(?:-[A-Za-z]+)*-?\d+(?:\.\d+)*)\*\*\s*(.*)$", re.S)
BOLD_START = re.compile(r"^\*\*([^*]{1,16})\*\*")
PASS = re.compile(r"(?:^|\s)Pass:\s*")
SIGN_OFF = "Tester sign-off"


class ChecklistError(ValueError):
    """A checklist the tool cannot parse without guessing; the message names the line."""


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    source: str         # the file, relative to the repository
    line: int           # where the step's id is
    section: str        # the `## ` heading it sits under
    purpose: str        # what it checks (the paragraph before `Pass:`)
    criterion: str      # the pass criterion (after `Pass:`)
    script: str = ""    # the runnable block; empty for a manual step
    kind: str = MANUAL  # runnable | simulators | manual
    helper: str = ""    # a manual step's helper command, run only when the tester asks

    @property
    def runnable(self) -> bool:
        return self.kind in (RUNNABLE, SIMULATORS)

    @property
    def command(self) -> str:
        """What the tester sees as the step's command."""
        return self.script or self.helper

    @property
    def digest(self) -> str:
        """Changes when the step's text changes (a saved verdict for an older text is
        stale and the step is walked again)."""
        text = "\0".join((self.id, self.kind, self.purpose, self.criterion, self.script,
                          self.helper))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Checklist:
    steps: list[Step] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)       # plain blocks before any step
    sign_off: list[str] = field(default_factory=list)    # the sign-off table's fields

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def ids(self) -> list[str]:
        return [step.id for step in self.steps]


def runnable_fences(text: str) -> int:
    """How many fences open a runnable block, counted line by line independently of the
    parser (any line that starts a fence and says `runnable`, wherever it is indented)."""
    return sum(1 for line in text.splitlines()
               if line.lstrip().startswith("```") and "runnable" in line)


@dataclass(slots=True)
class _Draft:
    id: str
    line: int
    section: str
    text: list[str]
    criterion: str = ""
    script: str = ""
    kind: str = MANUAL
    helper: str = ""


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source
        self.section = ""
        self.paragraph: list[str] = []
        self.paragraph_line = 0
        self.draft: _Draft | None = None
        self.result = Checklist()
        self.in_sign_off = False

    def fail(self, line: int, message: str) -> ChecklistError:
        return ChecklistError(f"{self.source}:{line}: {message}")

    def parse(self) -> Checklist:
        number = 0
        while number < len(self.lines):
            line = self.lines[number]
            number += 1
            if line.startswith("```"):
                self.flush()
                number = self.fence(number, line)
            elif line.startswith("#"):
                self.flush()
                self.close_step()
                self.section = line.lstrip("#").strip()
                self.in_sign_off = self.section == SIGN_OFF
            elif not line.strip():
                self.flush()
            elif self.in_sign_off and line.startswith("|"):
                self.sign_off_row(line)
            else:
                if not self.paragraph:
                    self.paragraph_line = number
                self.paragraph.append(line.strip())
        self.flush()
        self.close_step()
        found = sum(step.runnable for step in self.result.steps)
        fences = runnable_fences("\n".join(self.lines))
        if found != fences:
            raise ChecklistError(f"{self.source}: {fences} fences say `runnable` but "
                                 f"{found} steps carry a runnable block: a block is "
                                 "malformed (indented, or outside a step)")
        return self.result

    def fence(self, number: int, opening: str) -> int:
        info = opening[3:].strip()
        if info not in FENCES:
            raise self.fail(number, f"unknown block ```{info}; expected one of "
                            + ", ".join(f"```{k}" for k in FENCES if k))
        body = []
        start = number
        while number < len(self.lines) and self.lines[number].strip() != "```":
            body.append(self.lines[number])
            number += 1
        if number == len(self.lines):
            raise self.fail(start, "this block is never closed")
        script = "\n".join(body) + "\n"
        kind = FENCES[info]
        if kind in (RUNNABLE, SIMULATORS):
            if self.draft is None:
                raise self.fail(start, "a runnable block outside a step (it needs a "
                                "`**ID**` paragraph before it)")
            if self.draft.script:
                raise self.fail(start, f"{self.draft.id} has a second runnable block; "
                                "give it its own step")
            self.draft.script, self.draft.kind = script, kind
        elif kind == "helper":
            if self.draft is None:
                self.result.setup.append(script)
            elif self.draft.helper:
                raise self.fail(start, f"{self.draft.id} has a second helper block")
            else:
                self.draft.helper = script
        return number + 1

    def flush(self) -> None:
        if not self.paragraph:
            return
        text, line = " ".join(self.paragraph), self.paragraph_line
        self.paragraph = []
        if self.in_sign_off:
            if STEP.match(text):
                raise self.fail(line, "a step after the sign-off: steps go before it")
            return  # the table's rows are read line by line (sign_off_row)
        match = STEP.match(text)
        bold = BOLD_START.match(text)
        if bold and not match:
            raise self.fail(line, f"`**{bold.group(1)}**` looks like a step id but is not one "
                            "(ids look like S5.2 or CIS-4.7)")
        if match:
            self.close_step()
            self.draft = _Draft(match.group(1), line, self.section, [])
            text = match.group(2)
        elif self.draft is None:
            return  # the introduction
        purpose, criterion = (PASS.split(text, maxsplit=1) if PASS.search(text)
                              else (text, ""))
        if purpose.strip():
            self.draft.text.append(purpose.strip())
        if criterion:
            if self.draft.criterion:
                raise self.fail(line, f"{self.draft.id} has a second `Pass:`")
            self.draft.criterion = criterion.strip()

    def sign_off_row(self, line: str) -> None:
        """`| field | value |`: the field, unless it is the header or the rule."""
        name = line.strip().strip("|").split("|")[0].strip()
        if name and name.lower() != "field" and not set(name) <= set("-: "):
            self.result.sign_off.append(name)

    def close_step(self) -> None:
        draft, self.draft = self.draft, None
        if draft is None:
            return
        if not draft.criterion:
            raise self.fail(draft.line, f"{draft.id} has no pass criterion (`Pass: ...`)")
        if not draft.text:
            raise self.fail(draft.line, f"{draft.id} does not say what it checks")
        self.result.steps.append(Step(
            id=draft.id, source=self.source, line=draft.line, section=draft.section,
            purpose=" ".join(draft.text), criterion=draft.criterion, script=draft.script,
            kind=draft.kind, helper=draft.helper))


def parse_text(text: str, source: str) -> Checklist:
    return _Parser(text, source).parse()


def load(paths: tuple[Path, ...] | list[Path] = SOURCES) -> Checklist:
    """Every step of the given checklists, in order; ids unique across all of them."""
    merged = Checklist()
    for path in paths:
        try:
            name = str(path.resolve().relative_to(REPO))
        except ValueError:
            name = str(path)
        part = parse_text(path.read_text(), name)
        merged.steps += part.steps
        merged.setup += part.setup
        merged.sign_off += part.sign_off
    seen: dict[str, Step] = {}
    for step in merged.steps:
        if step.id in seen:
            first = seen[step.id]
            raise ChecklistError(f"{step.source}:{step.line}: id {step.id} is already used at "
                                 f"{first.source}:{first.line}")
        seen[step.id] = step
    if not merged.steps:
        raise ChecklistError(f"no steps in {', '.join(str(p) for p in paths)}")
    return merged
