"""The one poll-until helper (lucia_deploy.waiting): returns the first truthy result and
the time taken, treats the ignored exceptions as "not yet", stops at once on any other
exception, and says what it waited for when it runs out."""

from __future__ import annotations

import itertools

import pytest

from lucia_deploy.waiting import WaitTimeout, wait_until


def test_returns_the_first_truthy_result_and_the_time() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    result, took = wait_until(lambda: next(answers), 1, "ready", interval=0.01)
    assert result == "ready"
    assert 0.02 <= took < 0.5


def test_ignored_exceptions_are_not_yet() -> None:
    calls = itertools.count()

    def flaky() -> bool:
        if next(calls) < 2:
            raise ConnectionError("refused")
        return True
    assert wait_until(flaky, 1, "up", interval=0.01, ignore=(OSError,))[0] is True


def test_other_exceptions_stop_the_wait() -> None:
    def broken() -> bool:
        raise RuntimeError("the container exited")
    with pytest.raises(RuntimeError, match="exited"):
        wait_until(broken, 5, "never", interval=0.01, ignore=(OSError,))


def test_running_out_names_what_was_awaited() -> None:
    with pytest.raises(WaitTimeout, match=r"the cake did not happen within 0\.05 s"):
        wait_until(lambda: False, 0.05, "the cake", interval=0.01)
