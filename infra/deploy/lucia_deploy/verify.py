"""`python -m lucia_deploy.verify --stack NAME`: run the gates against a stack that is up,
layer by layer, write JUnit XML and HTML reports under reports/<stack>/, print a summary
(passed, failed, skipped with every skip's reason) and exit non-zero on any failure."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from lucia_deploy import profiles, stacks
from lucia_deploy.checklist.record import new_run_dir
from lucia_deploy.images import REPO

# The layers each profile runs are declared beside the tests, in GATES; a layer is pytest
# over paths, or (paths None) the checklist tool's automatic walk (`python -m
# lucia_deploy.checklist --auto`), read back from the run's JUnit like the rest.
GATES = REPO / "tests" / "gates.toml"
CHECKLIST = None
Layers = dict[str, tuple[tuple[str, list[str] | None], ...]]


class GatesError(ValueError):
    """tests/gates.toml does not declare what verify needs; the message says what."""


def load_layers(path: Path = GATES) -> Layers:
    with path.open("rb") as handle:
        table = tomllib.load(handle)
    layers: Layers = {}
    for profile in (profiles.FULL, profiles.LIVE):
        entries = table.get(profile)
        if not entries:
            raise GatesError(f"{path.name} declares no layers for the {profile} profile")
        declared: list[tuple[str, list[str] | None]] = []
        for entry in entries:
            if entry.get("tool") == "checklist":
                declared.append((entry["name"], CHECKLIST))
            elif entry.get("pytest"):
                declared.append((entry["name"], list(entry["pytest"])))
            else:
                raise GatesError(f"{path.name}: layer {entry.get('name')!r} of {profile} "
                                 "names neither pytest paths nor tool = \"checklist\"")
        layers[profile] = tuple(declared)
    return layers


LAYERS = load_layers()

@dataclass
class Result:
    layer: str
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class Case:
    name: str      # classname::name
    outcome: str   # passed | failed | skipped (an error counts as failed)
    message: str = ""


def junit_cases(path: Path) -> list[Case]:
    """Every test case of a JUnit XML report, with its outcome."""
    cases = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            cases.append(Case(name, "failed"))
        elif skipped is not None:
            cases.append(Case(name, "skipped", skipped.get("message", "no reason given")))
        else:
            cases.append(Case(name, "passed"))
    return cases


def run_layer(stack: str, layer: str, paths: list[str], extra: list[str]) -> Result:
    out = REPO / "reports" / stack
    out.mkdir(parents=True, exist_ok=True)
    junit, html = out / f"{layer}.xml", out / f"{layer}.html"
    print(f"==> {layer}: {' '.join(paths)}", flush=True)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, f"--junitxml={junit}", f"--html={html}",
         "--self-contained-html", "-p", "no:cacheprovider", *extra],
        cwd=REPO, env={**os.environ, "LUCIA_STACK": stack}, check=False)
    return _result(layer, completed.returncode, junit)


def run_checklist(stack: str, layer: str = "checklist") -> Result:
    """The checklist tool's automatic walk: its record in reports/checklist/<stack>-<time>/,
    its JUnit and HTML copied beside the other layers' (reports/<stack>/checklist.*)."""
    out = REPO / "reports" / stack
    out.mkdir(parents=True, exist_ok=True)
    junit = out / f"{layer}.xml"
    junit.unlink(missing_ok=True)  # a stale report must not stand in for a run that broke
    run_dir = new_run_dir(stack)
    print(f"==> {layer}: python -m lucia_deploy.checklist --auto (record in "
          f"{run_dir.relative_to(REPO)})", flush=True)
    completed = subprocess.run(
        [sys.executable, "-m", "lucia_deploy.checklist", "--stack", stack, "--auto",
         "--run-dir", str(run_dir)], cwd=REPO, check=False)
    for name, target in (("junit.xml", junit), ("report.html", out / f"{layer}.html")):
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, target)
    return _result(layer, completed.returncode, junit)


def _result(layer: str, exit_code: int, junit: Path) -> Result:
    result = Result(layer, exit_code=exit_code)
    cases = junit_cases(junit) if junit.exists() else None
    if cases == []:
        # An empty parametrization (no Dockerfiles found, no steps parsed) is not a pass.
        result.failed.append(f"{layer}: collected no tests")
        return result
    for case in cases or []:
        if case.outcome == "failed":
            result.failed.append(case.name)
        elif case.outcome == "skipped":
            result.skipped.append((case.name, case.message))
        else:
            result.passed += 1
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    try:
        profile, why = profiles.choose(stacks.read_outputs(args.stack))
    except (stacks.StackError, ValueError) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    print(f"verify {args.stack}: the {profile} profile, because {why}", flush=True)
    results = [run_checklist(args.stack, layer) if paths is CHECKLIST
               else run_layer(args.stack, layer, paths, args.pytest_args)
               for layer, paths in LAYERS[profile]]
    print(f"\nverify {args.stack} ({profile} profile): reports in reports/{args.stack}/")
    print(f"{'layer':12} {'passed':>7} {'failed':>7} {'skipped':>8}")
    for result in results:
        print(f"{result.layer:12} {result.passed:7} {len(result.failed):7} "
              f"{len(result.skipped):8}")
        for name in result.failed:
            print(f"  FAILED  {name}")
        for name, reason in result.skipped:
            print(f"  SKIPPED {name}: {reason}")
    failed = sum(len(r.failed) for r in results)
    broken = [r.layer for r in results if r.exit_code not in (0, 1)]
    passed = sum(r.passed for r in results)
    skipped = sum(len(r.skipped) for r in results)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    if broken:
        print(f"layers that could not run: {', '.join(broken)}")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
