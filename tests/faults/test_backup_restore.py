"""make backup / make restore: sessions written, snapshot taken, volume purged, snapshot
restored into the stopped stack, every session found again. Runs last: it takes the stack
down and up."""

from __future__ import annotations

import uuid
from pathlib import Path

from lucia_deploy import cli
from tests.support.deployed import Deployed


def test_zz_backup_purge_restore_finds_every_session(deployed: Deployed, tmp_path: Path) -> None:
    sessions = [f"backup-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    for session in sessions:
        status, _ = deployed.call("POST", "/api/chat",
                                  {"message": f"remember {session}", "sessionId": session})
        assert status == 200
    snapshot = tmp_path / "snapshot.rdb"
    assert cli.main(["backup", "--stack", deployed.stack, "--file", str(snapshot)]) == 0
    assert cli.main(["down", "--stack", deployed.stack, "--purge"]) == 0
    assert cli.main(["restore", "--stack", deployed.stack, "--file", str(snapshot)]) == 0
    assert cli.main(["up", "--stack", deployed.stack]) == 0
    found = 0
    for session in sessions:
        status, body = deployed.call("GET", f"/api/sessions/{session}")
        if status == 200 and body["history"][0]["content"] == f"remember {session}":
            found += 1
    print(f"\nbackup/restore: {len(sessions)} sessions written, {found} found after purge "
          f"and restore ({snapshot.stat().st_size} byte snapshot)")
    assert found == len(sessions)
