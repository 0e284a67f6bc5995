"""LUCIA_LOG_LEVEL=DEBUG is lucia's own detail; the HTTP and SDK libraries stay at WARNING
unless LUCIA_LIBRARY_LOG_LEVEL asks (their DEBUG is every LLM call's wire traffic, which
under load outran the dev stack's log rotation)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from lucia.logs import configure_logging
from lucia.settings import Settings

# httpx2 and httpcore2: the openai SDK's HTTP client in the locked versions.
LIBRARIES = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "aiohttp.access")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def test_debug_is_lucias_own_detail() -> None:
    configure_logging("DEBUG")
    assert logging.getLogger("lucia").getEffectiveLevel() == logging.DEBUG
    for name in LIBRARIES:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
        assert logging.getLogger(f"{name}.child").getEffectiveLevel() == logging.WARNING


def test_library_debug_is_opt_in() -> None:
    configure_logging("INFO", "DEBUG")
    assert logging.getLogger("httpcore.http11").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("httpcore2.http11").getEffectiveLevel() == logging.DEBUG


def test_the_library_level_is_a_checked_setting() -> None:
    assert Settings().library_log_level == "WARNING"
    assert Settings(library_log_level="debug").library_log_level == "DEBUG"
    with pytest.raises(ValueError, match="DEBUG, INFO, WARNING or ERROR"):
        Settings(library_log_level="LOUD")
