"""A run's record: who walked which stack, and each step's command, output, verdict and
note. Saved as `progress.json` in the run's directory after every step, so a run can be
stopped and resumed; the reports are written from it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lucia_deploy.checklist.parse import Step
from lucia_deploy.images import REPO

RUNS = REPO / "reports" / "checklist"
PROGRESS = "progress.json"
FORMAT = 1

PASSED, FAILED, SKIPPED, NOT_DONE = "passed", "failed", "skipped", "not done"
VERDICTS = (PASSED, FAILED, SKIPPED, NOT_DONE)


class RecordError(RuntimeError):
    """A run directory that cannot be resumed."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_dir(stack: str, root: Path = RUNS) -> Path:
    """reports/checklist/<stack>-<time>/ (UTC; a second run in the same second gets -2)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path, n = root / f"{stack}-{stamp}", 1
    while path.exists():
        n += 1
        path = root / f"{stack}-{stamp}-{n}"
    return path


@dataclass
class Result:
    step: str                 # the step's id
    digest: str               # the step's text when it was walked (parse.Step.digest)
    verdict: str
    note: str = ""
    command: str = ""         # what ran (empty when nothing did)
    output: str = ""          # stdout and stderr together, whole
    exit_code: int | None = None
    seconds: float = 0.0
    when: str = ""

    @property
    def done(self) -> bool:
        """A verdict a later walk keeps (`not done` is walked again)."""
        return self.verdict != NOT_DONE


@dataclass
class Image:
    component: str            # service, redis, sim-ha, ...
    container: str
    reference: str            # the tag the outputs name
    image_id: str = ""        # what the container runs (docker inspect)
    version: str = ""         # org.opencontainers.image.version
    revision: str = ""        # org.opencontainers.image.revision
    created: str = ""
    problem: str = ""         # why the engine could not say


@dataclass
class Record:
    stack: str
    tester: str
    profile: str
    profile_why: str
    url: str
    api_key_set: bool
    mode: str                 # interactive | auto
    started: str = field(default_factory=now)
    updated: str = ""
    images: list[Image] = field(default_factory=list)
    results: dict[str, Result] = field(default_factory=dict)
    sign_off: dict[str, str] = field(default_factory=dict)   # the fields the tester filled
    sources: list[str] = field(default_factory=list)

    def result(self, step: Step) -> Result | None:
        """The step's saved result, unless the step's text changed since."""
        result = self.results.get(step.id)
        return result if result is not None and result.digest == step.digest else None

    def save(self, run_dir: Path) -> Path:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.updated = now()
        path = run_dir / PROGRESS
        document = {"format": FORMAT, **asdict(self)}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n")
        temporary.replace(path)  # a run stopped mid-write keeps its previous progress
        return path

    @classmethod
    def load(cls, run_dir: Path) -> Record:
        path = run_dir / PROGRESS
        if not path.is_file():
            raise RecordError(f"{run_dir} has no {PROGRESS}: not a checklist run to resume")
        try:
            document: dict[str, Any] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path} is not valid JSON ({exc})") from None
        if document.pop("format", None) != FORMAT:
            raise RecordError(f"{path} was written by another version of the tool")
        try:
            document["images"] = [Image(**image) for image in document.get("images", [])]
            document["results"] = {key: Result(**value)
                                   for key, value in document.get("results", {}).items()}
            return cls(**document)
        except TypeError as exc:
            raise RecordError(f"{path} is not a checklist record ({exc})") from None


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]    # verdict -> steps
    failed: list[str]         # ids
    runnable_failed: list[str]
    overall: str              # pass | fail | incomplete


def summarise(steps: list[Step], record: Record) -> Summary:
    """Every step counts once: a step with no (current) result is `not done`."""
    counts = dict.fromkeys(VERDICTS, 0)
    failed, runnable_failed = [], []
    for step in steps:
        result = record.result(step)
        verdict = result.verdict if result else NOT_DONE
        counts[verdict] += 1
        if verdict == FAILED:
            failed.append(step.id)
            if step.runnable:
                runnable_failed.append(step.id)
    overall = "fail" if failed else "incomplete" if counts[NOT_DONE] else "pass"
    return Summary(counts, failed, runnable_failed, overall)
