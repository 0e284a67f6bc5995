"""Preflight's reading of a stack file, without an engine: YAML as Pulumi reads it, every
bad key at once, nothing a plain key can hide behind encryption, no port published twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from lucia_deploy import preflight, stacks


@pytest.fixture
def stack_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def write(text: str) -> str:
        path = tmp_path / "Pulumi.probe.yaml"
        path.write_text(text)
        monkeypatch.setattr(stacks, "stack_file", lambda stack: path)
        return "probe"
    return write


def messages(stack: str) -> list[str]:
    return [p.message for p in preflight.settings_problems(stack)]


def test_yaml_no_is_the_string_no_as_pulumi_reads_it(stack_text) -> None:
    stack = stack_text("config:\n  lucia:redisAppendfsync: no\n")
    assert stacks.stack_config(stack) == {"lucia:redisAppendfsync": "no"}
    assert messages(stack) == []


def test_a_plain_setting_may_not_hide_behind_encryption(stack_text) -> None:
    stack = stack_text("config:\n  lucia:servicePort:\n    secure: v1:AAAA\n")
    assert messages(stack) == ["Pulumi.probe.yaml: lucia:servicePort: encrypted, but it is "
                               "not a secret and only the Pulumi CLI could read it (the "
                               "offline path would use the default); write it in plain text"]


def test_two_settings_on_one_port_are_refused(stack_text) -> None:
    stack = stack_text("config:\n  lucia:servicePort: 5000\n  lucia:redisPublishPort: 5000\n")
    assert messages(stack) == ["Pulumi.probe.yaml: lucia:* : redisPublishPort and "
                               "servicePort both publish 127.0.0.1:5000"]


@pytest.mark.parametrize("text", ["- a list\n", "config: 5\n", "config:\n  - x\n"])
def test_a_stack_file_of_the_wrong_shape_is_named(stack_text, text: str) -> None:
    stack = stack_text(text)
    assert messages(stack) == ["Pulumi.probe.yaml: expected `config:` with one "
                               "`lucia:key: value` per line"]
