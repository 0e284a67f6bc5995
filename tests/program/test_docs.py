"""Docs generated from code stay in step with it."""

from __future__ import annotations

import re

from lucia_deploy import configdoc, fidelity
from lucia_deploy.images import REPO


def test_configuration_reference_is_current() -> None:
    assert configdoc.TARGET.read_text() == configdoc.render(), \
        "docs/configuration.md is stale: run `make docs`"


def test_configuration_reference_names_every_variable_and_key() -> None:
    text = configdoc.TARGET.read_text()
    for name in ("ConnectionStrings__chat-model", "HOMEASSISTANT_URL", "LUCIA_API_KEY",
                 "lucia:redisAppendfsync", "lucia:servicePort"):
        assert f"`{name}`" in text


def test_pulumi_fidelity_table_is_current() -> None:
    assert fidelity.TARGET.read_text() == fidelity.render(), \
        "docs/pulumi-fidelity.md is stale: run `make docs`"


def test_pulumi_fidelity_names_only_tests_that_exist() -> None:
    """Each row's proof is a real test function in the file it names."""
    text = fidelity.TARGET.read_text()
    named = set(re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", text))
    named |= {(path, test) for path, _, rest in re.findall(
        r"(tests/[\w/]+\.py)::(test_\w+)((?:, `?::test_\w+`?)+)", text)
        for test in re.findall(r"::(test_\w+)", rest)}
    assert len(named) > 15
    for path, test in sorted(named):
        source = (REPO / path).read_text()
        assert re.search(rf"^def {test}\(", source, re.M), f"{path}::{test} does not exist"


def test_pulumi_fidelity_has_no_row_that_differs() -> None:
    rows = [line for line in fidelity.TARGET.read_text().splitlines()
            if line.startswith("| `")]
    assert len(rows) >= 40
    assert not [row for row in rows if "differs" in row.lower()]


def test_deployment_guide_lists_every_exit_code() -> None:
    from lucia_deploy.preflight import Exit

    text = (REPO / "docs" / "deployment.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", text, re.MULTILINE))
    assert sorted(int(code) for code in rows) == sorted(int(code) for code in Exit)


def test_readme_layout_lists_every_room_and_only_rooms_that_exist() -> None:
    """The README's layout block: every path it names exists, and every directory under
    tests/ and every top-level source directory appears in it."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    named = {line.split()[0].rstrip(",") for line in block.splitlines()
             if line.strip() and not line.startswith(" ")}
    for path in named:
        if "<" not in path:
            assert (REPO / path).exists(), f"README layout names {path}, which does not exist"
    rooms = {f"tests/{p.name}/" for p in (REPO / "tests").iterdir()
             if p.is_dir() and any(p.glob("*.py"))}
    rooms |= {f"{name}/" for name in ("sims", "checklists", "docs")}
    missing = sorted(rooms - named)
    assert not missing, f"README layout misses {missing}"


def test_makefile_defines_each_target_once() -> None:
    """A target defined twice silently runs only the last recipe (make warns, no more)."""
    targets = re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), re.MULTILINE)
    twice = sorted({t for t in targets if targets.count(t) > 1})
    assert not twice, f"Makefile defines {twice} more than once"
