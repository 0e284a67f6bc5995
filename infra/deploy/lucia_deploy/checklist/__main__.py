"""`python -m lucia_deploy.checklist --stack NAME`: walk the testing checklist and the CIS
manual items against a stack that is up, and leave a signed record in
reports/checklist/<stack>-<time>/ (report.md, report.html, junit.xml, progress.json).

Exit status: 0 when no step failed, 1 when one did, 2 when the run could not start (the
stack is not up, a checklist does not parse, an unknown --step id, a run directory that
cannot be resumed), 3 when the tester stopped it before the end (resume it with --resume)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lucia_deploy import stacks
from lucia_deploy.checklist import parse, report, target
from lucia_deploy.checklist.record import (
    FAILED,
    PROGRESS,
    SKIPPED,
    Record,
    RecordError,
    new_run_dir,
    summarise,
)
from lucia_deploy.checklist.run import Runner, Stop, Terminal, default_terminal


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lucia_deploy.checklist",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="the stack under test (must be up)")
    parser.add_argument("--auto", action="store_true",
                        help="runnable steps only, no questions; manual steps not done")
    parser.add_argument("--step", action="append", metavar="ID", default=[],
                        help="walk only this step, again (repeatable), e.g. --step S5.2")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="go on with the run saved in DIR")
    parser.add_argument("--tester", default="", help="who signs the record")
    parser.add_argument("--run-dir", type=Path, metavar="DIR",
                        help="where a new run's record goes (default "
                             "reports/checklist/<stack>-<time>)")
    parser.add_argument("--checklist", type=Path, action="append", metavar="FILE",
                        help="walk these checklists instead of checklists/"
                             "TESTING-CHECKLIST.md and checklists/cis-docker-manual.md")
    return parser


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and args.run_dir:
        parser.error("--resume DIR already names the run directory; drop --run-dir")
    return args


def main(argv: list[str] | None = None, terminal: Terminal | None = None) -> int:
    args = arguments(argv)
    sources = tuple(args.checklist) if args.checklist else parse.SOURCES
    try:
        checklist = parse.load(sources)
    except (parse.ChecklistError, OSError) as exc:
        print(f"checklist: {exc}", file=sys.stderr)
        return 2
    unknown = [step_id for step_id in args.step if step_id not in checklist.ids]
    if unknown:
        print(f"checklist: no step {', '.join(unknown)}; the steps are "
              f"{', '.join(checklist.ids)}", file=sys.stderr)
        return 2
    try:
        stack = target.Target.load(args.stack)
    except (stacks.StackError, ValueError) as exc:
        print(f"checklist: {exc}", file=sys.stderr)
        return 2
    mode = "auto" if args.auto else "interactive"
    try:
        record, run_dir = _record(args, stack, mode, sources)
    except RecordError as exc:
        print(f"checklist: {exc}", file=sys.stderr)
        return 2
    terminal = terminal or default_terminal()
    runner = Runner(checklist, record, run_dir, stack.environment(), stack.live, args.auto,
                    terminal)
    terminal.say(f"checklist {args.stack}: the {stack.profile} profile, because "
                 f"{stack.profile_why}; {mode} run, record in {run_dir}")
    try:
        while not args.auto and not record.tester:  # an interactive record is signed
            record.tester = terminal.ask("tester name: ")
        record.save(run_dir)
        finished = runner.walk(args.step or None)
        if finished and not args.auto:
            runner.ask_sign_off(report.tester_fields(checklist.sign_off))
    except (Stop, KeyboardInterrupt):
        finished = False
        terminal.say(f"\nstopped; progress saved in {run_dir}")
    record.save(run_dir)
    written = report.write(run_dir, checklist, record)
    summary = summarise(checklist.steps, record)
    _print_summary(terminal, checklist, record, run_dir, written, finished)
    return 1 if summary.failed else 0 if finished else 3


def _record(args: argparse.Namespace, stack: target.Target, mode: str,
            sources: tuple[Path, ...]) -> tuple[Record, Path]:
    images = target.images(stack.outputs)
    if args.resume:
        record = Record.load(args.resume)
        if record.stack != args.stack:
            raise RecordError(f"{args.resume} is a run against {record.stack}, not "
                              f"{args.stack}")
        if record.profile != stack.profile:
            raise RecordError(f"{args.resume} was walked in the {record.profile} profile; "
                              f"{args.stack} now gets the {stack.profile} profile "
                              f"({stack.profile_why}): start a new run")
        before = {i.component: i.image_id for i in record.images}
        changed = [i.component for i in images
                   if before.get(i.component) not in (None, i.image_id)]
        if changed:
            print(f"checklist: the {', '.join(changed)} image changed since this run "
                  "started; earlier verdicts were given against the old one",
                  file=sys.stderr)
        record.images = images
        record.tester = args.tester or record.tester
        if mode not in record.mode.split(" + "):
            record.mode = f"{record.mode} + {mode}"
        return record, args.resume
    run_dir = args.run_dir or new_run_dir(args.stack)
    if (run_dir / PROGRESS).exists():
        raise RecordError(f"{run_dir} already holds a run; go on with --resume {run_dir}")
    names = []
    for path in sources:
        try:
            names.append(str(path.resolve().relative_to(parse.REPO)))
        except ValueError:
            names.append(str(path))
    return Record(stack=args.stack, tester=args.tester, profile=stack.profile,
                  profile_why=stack.profile_why, url=stack.url,
                  api_key_set=bool(stack.api_key), mode=mode, images=images,
                  sources=names), run_dir


def _print_summary(terminal: Terminal, checklist: parse.Checklist, record: Record,
                   run_dir: Path, written: list[Path], finished: bool) -> None:
    summary = summarise(checklist.steps, record)
    counts = ", ".join(f"{n} {verdict}" for verdict, n in summary.counts.items())
    terminal.say(f"\nchecklist {record.stack} ({record.profile} profile): {counts} "
                 f"(of {len(checklist.steps)} steps); overall: {summary.overall}")
    walked = [(step, record.result(step)) for step in checklist.steps]
    for step, result in walked:
        if result and result.verdict == FAILED:
            terminal.say(f"  FAILED  {step.id}: {step.criterion}")
    for step, result in walked:
        if result and result.verdict == SKIPPED:
            terminal.say(f"  SKIPPED {step.id}: {result.note}")
    terminal.say(f"record: {run_dir}/ ({', '.join(p.name for p in written)}, {PROGRESS})")
    if not finished:
        try:
            shown = run_dir.resolve().relative_to(parse.REPO)
        except ValueError:
            shown = run_dir
        terminal.say(f"go on with: make checklist STACK={record.stack} RESUME={shown}")


if __name__ == "__main__":
    raise SystemExit(main())
