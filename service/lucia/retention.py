"""`python -m lucia.retention`: list, and on request delete, sessions an operator chooses
to reclaim (docs/capacity.md). Run inside the service container (`make prune`), so it uses
the service's own settings and Redis credentials and needs no published Redis port.

A dry run is the default: it prints what would be deleted and changes nothing. Sessions go
with their history and their tasks, as `DELETE /api/sessions/{id}` does."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import datetime

from lucia.errors import LuciaError
from lucia.settings import Settings, SettingsError, load_settings
from lucia.store import SESSION_PREFIX, Store, make_redis_client

PAGE = 500
SHOWN = 20


@dataclass(frozen=True, slots=True)
class Candidate:
    session_id: str
    last_accessed: str
    idle_seconds: float


def _idle_seconds(last_accessed: str | None, now: float) -> float:
    if not last_accessed:
        return float("inf")
    return now - datetime.fromisoformat(last_accessed.replace("Z", "+00:00")).timestamp()


async def select(store: Store, prefix: str, min_idle_seconds: float,
                 limit: int | None) -> list[Candidate]:
    """Indexed sessions whose id starts with `prefix` and that have been idle at least
    `min_idle_seconds`, closest to expiry first."""
    chosen: list[Candidate] = []
    now, start = time.time(), 0
    while limit is None or len(chosen) < limit:
        page = [sid for sid, _ in await store.sessions_by_expiry(start, PAGE)]
        if not page:
            break
        start += len(page)
        matching = [sid for sid in page if sid.startswith(prefix)]
        for sid, last in zip(matching, await store.last_accessed(matching), strict=True):
            idle = _idle_seconds(last, now)
            if idle >= min_idle_seconds:
                chosen.append(Candidate(sid, last or "?", idle))
    return chosen[:limit] if limit is not None else chosen


async def reindex(store: Store) -> int:
    """Index sessions written before the index existed, from a SCAN."""
    return await store.index_unindexed(f"{SESSION_PREFIX}*")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(make_redis_client(settings), settings)
    try:
        if args.reindex:
            print(f"indexed {await reindex(store)} session(s) that predate the index")
        candidates = await select(store, args.prefix, args.idle_seconds, args.limit)
        what = (f"sessions with prefix {args.prefix!r}" if args.prefix else "sessions") + (
            f" idle for at least {args.idle_seconds:g} s" if args.idle_seconds else "")
        print(f"{len(candidates)} {what}")
        for candidate in candidates[:SHOWN]:
            print(f"  {candidate.session_id}  last used {candidate.last_accessed}")
        if len(candidates) > SHOWN:
            print(f"  ... and {len(candidates) - SHOWN} more")
        if not args.apply:
            print("dry run: nothing was deleted (apply with --apply, or APPLY=1)")
            return 0
        deleted = 0
        for index in range(0, len(candidates), 100):
            batch = [c.session_id for c in candidates[index:index + 100]]
            deleted += await store.delete_sessions(batch)
        print(f"deleted {deleted} session(s) with their history and tasks")
        return 0
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lucia.retention", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="", help="only session ids starting with this")
    parser.add_argument("--idle-seconds", type=float, default=0.0,
                        help="only sessions unused for at least this long")
    parser.add_argument("--limit", type=int, default=None, help="at most this many")
    parser.add_argument("--apply", action="store_true", help="delete (default: list only)")
    parser.add_argument("--reindex", action="store_true",
                        help="first index sessions stored before the index existed")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.idle_seconds < 0:
        parser.error("--idle-seconds must not be negative")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"lucia.retention: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args, settings))
    except LuciaError as exc:
        print(f"lucia.retention: {exc.code}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
