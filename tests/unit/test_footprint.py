"""docs/capacity.md states what the code stores: its footprint table is re-measured here
(as `make footprint` does; within a margin for allocator noise) and its capacity table
must be exactly what the stated footprint and the stack files give."""

from __future__ import annotations

import pytest

from tests.load import footprint
from tests.support.redis_server import RedisServer

MARGIN = 0.15


async def test_the_stated_footprint_is_what_the_code_stores(redis_server: RedisServer,
                                                           redis_url: str) -> None:
    with redis_server.client() as admin:
        found = await footprint.measure(redis_url, admin, footprint.TURNS)
    one_shot, continued = footprint.stated(footprint.DOC.read_text())
    assert found.one_shot_turn == pytest.approx(one_shot, rel=MARGIN), (
        f"a one-shot turn now stores {found.one_shot_turn:,.0f} bytes, the doc says "
        f"{one_shot:,.0f}: run `make footprint`")
    assert found.continued_turn == pytest.approx(continued, rel=MARGIN), (
        f"a continued turn now stores {found.continued_turn:,.0f} bytes, the doc says "
        f"{continued:,.0f}: run `make footprint`")


def test_the_capacity_table_follows_the_stack_files() -> None:
    text = footprint.DOC.read_text()
    expected = footprint.capacity_table(*footprint.stated(text))
    assert f"<!-- capacity -->\n{expected}\n<!-- /capacity -->" in text, \
        "docs/capacity.md's capacity table is stale: run `make footprint`"


def test_the_capacity_rows_cover_every_stack() -> None:
    rows = footprint.capacity_rows(2000.0, 1000.0)
    assert [row[0] for row in rows] == footprint.stacks.available_stacks()
    ci = next(row for row in rows if row[0] == "ci")
    # ci: redisMemoryMb 256 at the default 75%: 192 MB, 80% of it usable.
    assert ci[1:3] == (256, 192)
    assert ci[3] == int(0.8 * 192 * 1024 * 1024 // 2000)
