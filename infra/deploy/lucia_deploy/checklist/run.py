"""Walking the steps: show each one, run its block or ask the tester, save the progress
after every step.

Interactive: a runnable step runs when the tester presses Enter (or is skipped with a
reason) and its exit status is the verdict; a manual step asks pass, fail or skip, and
runs its helper block first when asked; every step takes a note. `q` (or end of input, or
Ctrl-C) stops the walk with the progress saved; `--resume` goes on from there.

Automatic (`--auto`): runnable steps only; manual steps are recorded `not done`.

In both, a `simulators` step is skipped with the reason on the live profile, and every
block runs under `bash -euo pipefail` in the repository with STACK, LUCIA_URL and
LUCIA_KEY set (the variables `Before you start` exports)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lucia_deploy.checklist import record as records
from lucia_deploy.checklist.parse import SIMULATORS, Checklist, Step
from lucia_deploy.checklist.record import FAILED, NOT_DONE, PASSED, SKIPPED, Record, Result
from lucia_deploy.images import REPO

RUNNABLE_TIMEOUT = 120.0   # a runnable block is a quick check
HELPER_TIMEOUT = 900.0     # a helper may take a stack down and up again (S10.1)
VARIABLES = ("STACK", "LUCIA_URL", "LUCIA_KEY", "SERVICE_CONTAINERS", "REDIS_CONTAINER")


class Stop(Exception):
    """The tester asked to stop (q, end of input)."""


class Terminal:
    """The tester's terminal: prompts on stdin, everything else on stdout."""

    def __init__(self, read: Callable[[str], str] = input,
                 write: Callable[[str], None] | None = None) -> None:
        self._read = read
        self._write = write or (lambda text: print(text, flush=True))

    def say(self, text: str = "") -> None:
        self._write(text)

    def ask(self, prompt: str) -> str:
        try:
            return self._read(prompt).strip()
        except EOFError:
            self.say("(end of input: stopping)")
            raise Stop from None


@dataclass(frozen=True)
class Execution:
    output: str
    exit_code: int
    seconds: float


def execute(script: str, env: dict[str, str], timeout: float,
            echo: Callable[[str], None] | None = None, cwd: Path = REPO) -> Execution:
    """Run a block under `bash -euo pipefail`; stdout and stderr together, whole, echoed
    line by line as they come when `echo` is given. The block runs in its own process
    group: past its timeout it is killed with everything it started, and whatever it
    leaves running in the background when it ends is killed too."""
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env={**os.environ, **env},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, errors="replace", start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo:
                echo(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timed_out = False
    try:
        code = process.wait(timeout=timeout)
        _kill(process)  # whatever the block left running in the background
    except subprocess.TimeoutExpired:
        _kill(process)
        code, timed_out = -1, True
    except KeyboardInterrupt:
        _kill(process)
        raise
    finally:
        reader.join(5)
        if process.stdout is not None:
            process.stdout.close()
    if timed_out:
        lines.append(f"\n(killed: still running after {timeout:g} s)\n")
    return Execution("".join(lines), code, time.monotonic() - started)


def _kill(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass
class Runner:
    checklist: Checklist
    record: Record
    run_dir: Path
    env: dict[str, str]
    live: bool
    auto: bool
    terminal: Terminal = field(default_factory=Terminal)
    timeout: float = RUNNABLE_TIMEOUT
    helper_timeout: float = HELPER_TIMEOUT

    def walk(self, only: list[str] | None = None) -> bool:
        """Walk every step not yet done (or exactly the steps `only` names, again);
        True when the walk reached its end, False when the tester stopped it."""
        steps = [self.checklist.step(step_id) for step_id in only] if only \
            else self.checklist.steps
        for step in steps:
            saved = self.record.result(step)
            if not only and saved is not None and (saved.done or self.auto):
                continue
            if only is None and saved is None and step.id in self.record.results:
                self.terminal.say(f"{step.id} changed since it was walked: walking it again")
            try:
                result = self.step(step)
            except (Stop, KeyboardInterrupt):
                self.record.save(self.run_dir)
                self.terminal.say(f"\nstopped before {step.id} was decided; progress saved "
                                  f"in {self.run_dir}")
                return False
            self.record.results[step.id] = result
            self.record.save(self.run_dir)
        return True

    def step(self, step: Step) -> Result:
        self.show(step)
        if step.kind == SIMULATORS and self.live:
            return self.decided(step, SKIPPED, "needs the simulators: not run on the live "
                                "profile, where the home and the LLM may be real")
        if step.runnable:
            return self.runnable(step)
        return self.manual(step)

    def show(self, step: Step) -> None:
        """The step as the tester reads it (an automatic run prints one line a step)."""
        if self.auto:
            return
        say = self.terminal.say
        say(f"\n── {step.id} · {step.section} · {step.kind} " + "─" * 20)
        say(step.purpose)
        say(f"Pass: {step.criterion}")
        if step.command:
            say("command:" if step.runnable else "helper command (runs only if you ask):")
            for line in step.command.rstrip("\n").splitlines():
                say(f"  │ {line}")

    def runnable(self, step: Step) -> Result:
        if not self.auto:
            answer = self.choose("Enter to run it, s to skip it, q to stop", ("", "s", "q"))
            if answer == "s":
                return self.decided(step, SKIPPED, self.ask_note(required=True))
        execution = self.execute(step.script, self.timeout)
        verdict = PASSED if execution.exit_code == 0 else FAILED
        self.verdict(step, verdict, f"exit {execution.exit_code}, "
                                    f"{execution.seconds:.1f} s")
        if self.auto and verdict == FAILED:
            self.terminal.say(f"  Pass: {step.criterion}")
            for line in execution.output.rstrip("\n").splitlines():
                self.terminal.say(f"  > {line}")
        note = "" if self.auto else self.ask_note()
        return Result(step.id, step.digest, verdict, note, step.script, execution.output,
                      execution.exit_code, round(execution.seconds, 2), records.now())

    def manual(self, step: Step) -> Result:
        if self.auto:
            self.verdict(step, NOT_DONE, "manual step")
            return Result(step.id, step.digest, NOT_DONE,
                          "a manual step, for a tester (make checklist)", when=records.now())
        options = ("p", "f", "s", "r", "q") if step.helper else ("p", "f", "s", "q")
        ran: Execution | None = None
        while True:
            answer = self.choose("p pass, f fail, s skip" + (", r run the helper command"
                                 if step.helper else "") + ", q stop", options)
            if answer != "r":
                break
            ran = self.execute(step.helper, self.helper_timeout)
            self.terminal.say(f"helper exited {ran.exit_code} ({ran.seconds:.1f} s)")
        verdict = {"p": PASSED, "f": FAILED, "s": SKIPPED}[answer]
        note = self.ask_note(required=verdict != PASSED)
        return Result(step.id, step.digest, verdict, note,
                      step.helper if ran else "", ran.output if ran else "",
                      ran.exit_code if ran else None,
                      round(ran.seconds, 2) if ran else 0.0, records.now())

    def decided(self, step: Step, verdict: str, note: str) -> Result:
        self.verdict(step, verdict, note)
        return Result(step.id, step.digest, verdict, note, when=records.now())

    def verdict(self, step: Step, verdict: str, detail: str) -> None:
        if self.auto:
            purpose = textwrap.shorten(step.purpose, 60, placeholder=" …")
            self.terminal.say(f"{step.id:9} {verdict.upper():9} {purpose} ({detail})")
        else:
            self.terminal.say(f"{step.id}: {verdict.upper()} ({detail})")

    def execute(self, script: str, timeout: float) -> Execution:
        echo = None if self.auto else (lambda line: self.terminal.say(f"  > {line}"))
        execution = execute(script, self.env, timeout, echo)
        key = self.env.get("LUCIA_KEY", "")
        if len(key) >= 4:  # the report is shared; the API key is not
            execution = Execution(execution.output.replace(key, "<LUCIA_KEY>"),
                                  execution.exit_code, execution.seconds)
        return execution

    def choose(self, prompt: str, options: tuple[str, ...]) -> str:
        while True:
            answer = self.terminal.ask(f"{prompt}: ").lower()
            if answer == "q":
                raise Stop
            if answer in options:
                return answer
            self.terminal.say(f"answer with one of: {', '.join(o or 'Enter' for o in options)}")

    def ask_note(self, required: bool = False) -> str:
        prompt = "note (why; required)" if required else "note (Enter for none)"
        while True:
            note = self.terminal.ask(f"{prompt}: ")
            if note or not required:
                return note

    def ask_sign_off(self, fields: list[str]) -> None:
        """The sign-off fields only the tester can fill, those not filled yet."""
        for name in fields:
            if not self.record.sign_off.get(name):
                self.record.sign_off[name] = self.terminal.ask(f"sign-off: {name}: ")
                self.record.save(self.run_dir)


def default_terminal() -> Terminal:
    """Prompts on stdout, answers from stdin. Answers piped in (a scripted run) are echoed
    after their prompt, so the log reads as the transcript a tester would have seen."""
    def read(prompt: str) -> str:
        sys.stdout.write(prompt)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        if not sys.stdin.isatty():
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
        return line.rstrip("\n")
    return Terminal(read)
