"""The dependency locks (requirements/*.lock, `make lock`): everything is pinned with
hashes, nothing names an index, every direct dependency of the pyproject files is locked
at a version its specifier allows, and the image's wheelhouse takes exactly the entries
whose markers hold for the image's Python."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lucia_deploy import images
from lucia_deploy.images import REPO

LOCKS = {"service": REPO / "requirements" / "service.lock",
         "dev": REPO / "requirements" / "dev.lock"}
ENTRY = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", re.MULTILINE)


def locked(path: Path) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in ENTRY.findall(path.read_text())}


def direct(pyproject: Path, groups: tuple[str, ...] = ()) -> list[Requirement]:
    data = tomllib.loads(pyproject.read_text())
    found = [Requirement(r) for r in data["project"]["dependencies"]]
    table = data.get("dependency-groups", {})

    def group(name: str) -> None:
        for item in table[name]:
            if isinstance(item, dict):
                group(item["include-group"])
            else:
                found.append(Requirement(item))
    for name in groups:
        group(name)
    return found


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_entry_is_pinned_with_hashes_and_names_no_index(name: str) -> None:
    text = LOCKS[name].read_text()
    assert "://" not in text, f"{name}.lock names an address"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    assert len(blocks) == len(ENTRY.findall(text)) > 10
    for block in blocks:
        assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"


@pytest.mark.parametrize(("lock", "sources"), [
    ("service", [(REPO / "service" / "pyproject.toml", ())]),
    ("dev", [(REPO / "service" / "pyproject.toml", ()), (REPO / "pyproject.toml", ("dev",))]),
])
def test_every_direct_dependency_is_locked_within_its_specifier(
        lock: str, sources: list[tuple[Path, tuple[str, ...]]]) -> None:
    pins = locked(LOCKS[lock])
    for pyproject, groups in sources:
        for requirement in direct(pyproject, groups):
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{requirement} is not in {lock}.lock: run `make lock`"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{lock}.lock pins {name}=={pins[name]}, outside {requirement}: "
                "run `make lock`")


def test_the_wheelhouse_takes_the_entries_whose_markers_hold(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(
        "alpha==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:ab\n    # via lucia\n"
        "beta==2.0 ; python_full_version < '3.11.3' \\\n    --hash=sha256:bb\n"
        "gamma==3.0 ; sys_platform == 'win32' \\\n    --hash=sha256:cc\n")
    old = images.locked_for(lock, images.image_environment("3.11.2"))
    new = images.locked_for(lock, images.image_environment("3.11.7"))
    assert old == ["alpha==1.0 --hash=sha256:aa --hash=sha256:ab", "beta==2.0 --hash=sha256:bb"]
    assert new == ["alpha==1.0 --hash=sha256:aa --hash=sha256:ab"]


def test_the_service_image_is_stale_when_the_lock_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The image's freshness hash reads the lock: another lock, another hash (so `make up`
    rebuilds an image whose dependencies differ from the lock)."""
    from lucia_deploy import cli
    before = cli.service_source("Release")
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read(self) + b"# moved\n"
                        if self == images.SERVICE_LOCK else read(self))
    assert cli.service_source("Release") != before
