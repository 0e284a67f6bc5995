"""The one poll-until loop: the deploy tool, the tests and the tools wait on containers,
processes and services through it, so the timeout, the interval and the message of a wait
that ran out are the same everywhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """`what` did not happen within the timeout; the message says which and how long."""


def wait_until(check: Callable[[], T | None], timeout: float, what: str, *,
               interval: float = 0.1,
               ignore: tuple[type[BaseException], ...] = ()) -> tuple[T, float]:
    """Call `check()` every `interval` seconds until it returns something truthy; return
    that and the seconds it took. Exceptions of the `ignore` types count as "not yet";
    any other exception stops the wait (a check raises to say waiting is pointless, e.g. a
    container that exited)."""
    started = time.monotonic()
    while True:
        try:
            result = check()
        except ignore:
            result = None
        if result:
            return result, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise WaitTimeout(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)
