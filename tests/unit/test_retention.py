"""`python -m lucia.retention` (what `make prune` runs in the service container) against a
real redis-server: a dry run changes nothing, filters choose, --apply deletes sessions
with their history and tasks, --reindex finds sessions stored before the index."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis as sync_redis

from lucia import retention
from tests.support.redis_server import RedisServer
from tests.unit.conftest import MakeClient


@pytest.fixture
def admin(redis_server: RedisServer, redis_url: str,
          monkeypatch: pytest.MonkeyPatch) -> sync_redis.Redis:
    monkeypatch.setenv("REDIS_URL", redis_url)
    return redis_server.client()


async def seed(make_client: MakeClient, *session_ids: str) -> dict[str, Any]:
    client = await make_client()
    replies = {}
    for session_id in session_ids:
        response = await client.post("/api/chat", json={"message": "hello",
                                                        "sessionId": session_id})
        replies[session_id] = await response.json()
    return replies


async def prune(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The command line as an operator runs it (its own event loop, so in a thread)."""
    code = await asyncio.to_thread(retention.main, list(args))
    return code, capsys.readouterr().out


async def test_dry_run_lists_and_changes_nothing(make_client: MakeClient,
                                                 admin: sync_redis.Redis,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    await seed(make_client, "lucia-run-a", "lucia-run-b", "a-real-one")
    before = sorted(admin.keys("*"))
    code, out = await prune(capsys, "--prefix", "lucia-run-")
    assert code == 0
    assert out.splitlines()[0] == "2 sessions with prefix 'lucia-run-'"
    assert "lucia-run-a" in out
    assert "lucia-run-b" in out
    assert "a-real-one" not in out
    assert "dry run: nothing was deleted" in out
    assert sorted(admin.keys("*")) == before


async def test_apply_deletes_the_chosen_sessions_with_their_tasks(
        make_client: MakeClient, admin: sync_redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    replies = await seed(make_client, "lucia-run-a", "a-real-one")
    code, out = await prune(capsys, "--prefix", "lucia-run-", "--apply")
    assert code == 0
    assert "deleted 1 session(s)" in out
    assert admin.keys("lucia:session:lucia-run-a*") == []
    assert not admin.exists(f"lucia:task:{replies['lucia-run-a']['taskId']}")
    assert admin.exists("lucia:session:a-real-one")
    assert admin.exists(f"lucia:task:{replies['a-real-one']['taskId']}")


async def test_idle_filter_keeps_recent_sessions(make_client: MakeClient,
                                                 admin: sync_redis.Redis,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    await seed(make_client, "recent", "old")
    admin.hset("lucia:session:old", "lastAccessedAt", "2020-01-01T00:00:00.000Z")
    code, out = await prune(capsys, "--idle-seconds", "3600", "--apply")
    assert code == 0
    assert out.splitlines()[0] == "1 sessions idle for at least 3600 s"
    assert not admin.exists("lucia:session:old")
    assert admin.exists("lucia:session:recent")


async def test_reindex_finds_sessions_stored_before_the_index(
        make_client: MakeClient, admin: sync_redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    await seed(make_client, "lucia-run-old")
    admin.delete("lucia:index:sessions")  # as stored by a version without the index
    assert "0 sessions" in (await prune(capsys, "--prefix", "lucia-run-"))[1]
    code, out = await prune(capsys, "--prefix", "lucia-run-", "--reindex", "--apply")
    assert code == 0
    assert "indexed 1 session(s)" in out
    assert "deleted 1 session(s)" in out
    assert admin.keys("lucia:session:*") == []


def test_bad_arguments_and_unreachable_redis_are_clear(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        retention.main(["--limit", "0"])
    assert exit_info.value.code == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    from tests.support.redis_server import free_port
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert retention.main([]) == 1
    assert "redis_unavailable" in capsys.readouterr().err


async def test_output_is_plain_text_not_json(admin: sync_redis.Redis,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await prune(capsys)
    assert code == 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
    assert out.splitlines()[0] == "0 sessions"
