"""Docs generated from code stay in step with it."""

from __future__ import annotations

from lucia_deploy import configdoc


def test_configuration_reference_is_current() -> None:
    assert configdoc.TARGET.read_text() == configdoc.render(), \
        "docs/configuration.md is stale: run `make docs`"


def test_configuration_reference_names_every_variable_and_key() -> None:
    text = configdoc.TARGET.read_text()
    for name in ("ConnectionStrings__chat-model", "HOMEASSISTANT_URL", "LUCIA_API_KEY",
                 "lucia:redisAppendfsync", "lucia:servicePort"):
        assert f"`{name}`" in text
