"""`make footprint`: Redis bytes per turn, per session and per task, measured through the
service's own HTTP API against a real redis-server (Redis 7, as the stacks run it), and
each stack's capacity at its `redisMemoryMb`. Writes the two tables of docs/capacity.md;
tests/unit/test_footprint.py re-measures and holds the doc to it.

Every figure is a `used_memory` delta divided by the items written, so it includes
Redis's own per-key overhead and the indexes."""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import redis as sync_redis
from aiohttp.test_utils import TestClient, TestServer

from lucia.app import create_app
from lucia.settings import Settings
from lucia_deploy import stacks
from lucia_stack.config import StackSettings
from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "capacity.md"
MESSAGE = "turn on the kitchen light"
LONG = "please remember this: " + "x" * 978  # 1,000 characters
# Enough turns that Redis's hash-table doublings average out (400 reads ~25% high).
TURNS = 2000
WATERMARK = Settings.model_fields["storage_high_watermark"].default
ONE_SHOT_TTL_SECONDS = Settings.model_fields["oneshot_session_ttl_seconds"].default


@dataclass(frozen=True, slots=True)
class Footprint:
    one_shot_turn: float      # a turn without sessionId: session, history, task, indexes
    continued_turn: float     # one more turn of an existing conversation
    session_overhead: float   # what opening a session adds to its first turn
    task: float               # one A2A task key (MEMORY USAGE)
    per_char: float           # bytes per extra character of message (stored twice)


async def _turns(client: TestClient, bodies: list[dict[str, str]]) -> list[dict[str, str]]:
    replies = []
    for body in bodies:
        response = await client.post("/api/chat", json=body)
        assert response.status == 200, await response.text()
        replies.append(await response.json())
    return replies


async def measure(redis_url: str, admin: sync_redis.Redis, turns: int) -> Footprint:
    settings = Settings(redis_url=redis_url)  # type: ignore[call-arg]  # env aliases
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()

    def used() -> int:
        return int(admin.info("memory")["used_memory"])

    try:
        admin.flushall()
        before = used()
        replies = await _turns(client, [{"message": MESSAGE}] * turns)
        one_shot = (used() - before) / turns
        tasks = [admin.memory_usage(f"lucia:task:{r['taskId']}") or 0 for r in replies[:200]]

        admin.flushall()
        sessions = max(turns // 10, 1)
        ids = [f"footprint-{i}" for i in range(sessions)]
        await _turns(client, [{"message": MESSAGE, "sessionId": s} for s in ids])
        before = used()
        await _turns(client, [{"message": MESSAGE, "sessionId": s} for s in ids] * 9)
        continued = (used() - before) / (9 * sessions)

        admin.flushall()
        before = used()
        await _turns(client, [{"message": LONG}] * (turns // 4))
        long_turn = (used() - before) / (turns // 4)
    finally:
        await client.close()
        admin.flushall()
    return Footprint(one_shot, continued, one_shot - continued, sum(tasks) / len(tasks),
                     (long_turn - one_shot) / (len(LONG) - len(MESSAGE)))


def footprint_table(f: Footprint) -> str:
    return "\n".join([
        "| item | bytes |",
        "|---|---|",
        f"| one-shot turn (no `sessionId`): session, history, task, indexes | "
        f"{f.one_shot_turn:,.0f} |",
        f"| one more turn of an existing conversation | {f.continued_turn:,.0f} |",
        f"| opening a session (what its first turn adds) | {f.session_overhead:,.0f} |",
        f"| one A2A task key | {f.task:,.0f} |",
        f"| each further character of message or reply (stored in the history and the "
        f"task) | {f.per_char:,.1f} |",
    ])


def capacity_rows(one_shot: float, continued: float) -> list[tuple[str, int, int, int, int]]:
    """(stack, redisMemoryMb, maxmemory MB, one-shot turns, conversation turns) before the
    watermark, for every stack file."""
    rows = []
    for stack in stacks.available_stacks():
        raw = {k.removeprefix("lucia:"): v for k, v in stacks.stack_config(stack).items()
               if k.startswith("lucia:")}
        fields = StackSettings.model_fields
        memory_mb = int(raw.get("redisMemoryMb", fields["redisMemoryMb"].default))
        percent = int(raw.get("redisMaxmemoryPercent",
                              fields["redisMaxmemoryPercent"].default))
        maxmemory = memory_mb * percent // 100
        room = WATERMARK * maxmemory * 1024 * 1024
        rows.append((stack, memory_mb, maxmemory, int(room // one_shot),
                     int(room // continued)))
    return rows


def capacity_table(one_shot: float, continued: float) -> str:
    lines = ["| stack | `redisMemoryMb` | maxmemory | one-shot turns before the watermark "
             "| one-shot turns/s it absorbs for ever (each lives 1 h) "
             "| conversation turns before the watermark |",
             "|---|---|---|---|---|---|"]
    for stack, memory_mb, maxmemory, shots, turns in capacity_rows(one_shot, continued):
        lines.append(f"| {stack} | {memory_mb} MB | {maxmemory} MB | {shots:,} | "
                     f"{shots / ONE_SHOT_TTL_SECONDS:,.1f} | {turns:,} |")
    return "\n".join(lines)


def stated(text: str) -> tuple[float, float]:
    """The one-shot and continued-turn bytes the doc states."""
    one_shot = re.search(r"\| one-shot turn \(no `sessionId`\)[^|]*\| ([\d,]+) \|", text)
    continued = re.search(r"\| one more turn of an existing conversation \| ([\d,]+) \|",
                          text)
    if one_shot is None or continued is None:
        raise ValueError(f"{DOC} has no footprint table")
    return (float(one_shot.group(1).replace(",", "")),
            float(continued.group(1).replace(",", "")))


def replace_between(text: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {marker} -->\n).*?(\n<!-- /{marker} -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{DOC} lacks the <!-- {marker} --> markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis")
        server.start()
        try:
            with server.client() as admin:
                found = asyncio.run(measure(server.url, admin, TURNS))
        finally:
            server.stop()
    # The capacity table is computed from the footprint as the doc states it (whole bytes),
    # so the unit test can recompute it exactly.
    table = capacity_table(round(found.one_shot_turn), round(found.continued_turn))
    text = replace_between(DOC.read_text(), "footprint", footprint_table(found))
    DOC.write_text(replace_between(text, "capacity", table))
    print(footprint_table(found))
    print()
    print(table)
    print(f"\nwrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
