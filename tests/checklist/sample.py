"""A small checklist in the real one's form, with a step of every kind, for tests that
need steps without a stack. Each runnable block appends its id to $RAN (a file), so a test
can count what really ran."""

from __future__ import annotations

from pathlib import Path

from lucia_deploy.checklist import parse
from lucia_deploy.checklist.record import Record

TEXT = """# A sample checklist

Introduction, not a step. Pass: nothing (the introduction is never a step).

```bash
export STACK=dev
```

## 1. First

**R1** Says one. Pass: prints `one`.

```bash runnable
echo R1 >> "$RAN"; echo one
```

**R2** Fails on purpose.

```bash runnable
echo R2 >> "$RAN"
for i in $(seq 1 60); do echo "boom line $i"; done
exit 3
```

Pass: exit 0 (it never is).

## 2. Second

**SIM1** Needs the simulators. Pass: prints `sim`.

```bash runnable simulators
echo SIM1 >> "$RAN"; echo sim
```

**M1** A manual step with a helper. Pass: the helper says `helped`.

```bash
echo helped
```

**M2** A manual step without a helper. Pass: the light stays off.

## Tester sign-off

| field | value |
|---|---|
| Tester name | |
| Overall result (pass / fail) | |
| Failed steps (ids) | |
| Notes and issues | |
| Recommendation for production | |
"""


def checklist(text: str = TEXT) -> parse.Checklist:
    return parse.parse_text(text, "sample.md")


def write(directory: Path, text: str = TEXT) -> Path:
    path = directory / "sample.md"
    path.write_text(text)
    return path


def record(**overrides: object) -> Record:
    values: dict = {"stack": "probe", "tester": "Ada", "profile": "full",
                    "profile_why": "the sample says so", "url": "http://127.0.0.1:9",
                    "api_key_set": False, "mode": "interactive", "sources": ["sample.md"]}
    return Record(**{**values, **overrides})


def ran(path: Path) -> list[str]:
    """The ids of the runnable blocks that ran, in order."""
    return path.read_text().split() if path.exists() else []
