"""How many worker processes: from the cgroup CPU quota (v2 `cpu.max`, v1 CFS files) or
the CPUs there are, or as LUCIA_WORKERS says; and the metrics directory made or emptied."""

from __future__ import annotations

from pathlib import Path

import pytest

from lucia import metrics, workers
from lucia.settings import SettingsError, load_settings
from lucia.workers import MetricsDir, cgroup_cpu_limit, parse_cpu_max, worker_count


@pytest.mark.parametrize(("cpu_max", "cpus", "expected"), [
    ("200000 100000", 8, 2),   # docker --cpus 2
    ("100000 100000", 8, 1),
    ("max 100000", 4, 4),      # no quota: one per CPU
    ("150000 100000", 8, 2),   # 1.5 CPUs: rounds up
    ("50000 100000", 8, 1),    # half a CPU: still one worker
    ("250000 100000", 8, 3),
    ("400000 100000", 2, 2),   # a quota above the CPUs there are: one per CPU
    ("200000 100000\n", 8, 2),  # as read from the file
])
def test_auto_runs_one_worker_per_cpu_of_the_quota(cpu_max: str, cpus: int,
                                                   expected: int) -> None:
    assert worker_count("auto", parse_cpu_max(cpu_max), cpus) == expected


def test_a_number_is_taken_as_given_whatever_the_quota() -> None:
    assert worker_count("3", parse_cpu_max("100000 100000"), 2) == 3
    assert worker_count("1", None, 8) == 1


@pytest.mark.parametrize("garbled", ["", "200000", "x 100000", "0 100000", "100000 0"])
def test_a_garbled_cpu_max_is_refused(garbled: str) -> None:
    with pytest.raises(ValueError, match=r"cpu\.max"):
        parse_cpu_max(garbled)


def test_cgroup_v2_cpu_max_is_read(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None


@pytest.mark.parametrize("controller", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_cfs_quota_is_read(tmp_path: Path, controller: str) -> None:
    folder = tmp_path / controller
    folder.mkdir()
    (folder / "cpu.cfs_quota_us").write_text("200000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) == 2.0
    (folder / "cpu.cfs_quota_us").write_text("-1\n")  # v1's "no limit"
    assert cgroup_cpu_limit(tmp_path) is None


def test_no_cgroup_files_means_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path) is None


@pytest.mark.parametrize("value", ["0", "-1", "65", "two", "1.5", ""])
def test_lucia_workers_refuses_what_is_not_auto_or_1_to_64(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LUCIA_WORKERS", value)
    with pytest.raises(SettingsError, match="LUCIA_WORKERS"):
        load_settings()


@pytest.mark.parametrize(("value", "normal"), [("AUTO", "auto"), (" 2 ", "2"), ("64", "64")])
def test_lucia_workers_accepts_auto_and_whole_numbers(
        monkeypatch: pytest.MonkeyPatch, value: str, normal: str) -> None:
    monkeypatch.setenv("LUCIA_WORKERS", value)
    assert load_settings().workers == normal


def test_a_named_metrics_dir_is_emptied_of_earlier_runs_files(tmp_path: Path) -> None:
    named = tmp_path / "metrics"
    named.mkdir()
    (named / "counter_4242.db").write_bytes(b"\0" * 8)
    (named / "README").write_text("not prometheus-client's")
    prepared = MetricsDir.prepare(str(named))
    assert sorted(p.name for p in named.iterdir()) == ["README"]
    prepared.remove()
    assert named.is_dir(), "a directory the operator named is not removed"


def test_without_a_name_the_metrics_dir_is_new_and_removed(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    prepared = MetricsDir.prepare("")
    assert prepared.path.parent == tmp_path
    assert list(prepared.path.iterdir()) == []
    prepared.remove()
    assert not prepared.path.exists()


def test_the_multiprocess_variable_is_the_one_metrics_reads() -> None:
    assert workers.MULTIPROC_ENV == metrics.MULTIPROCESS_ENV == "PROMETHEUS_MULTIPROC_DIR"
