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
