"""CIS Docker Benchmark v1.6.0, section 4 (container images and build files), for the
images the stack runs, plus hadolint over every Dockerfile."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import docker
import pytest
import testinfra

from tests.support.deployed import Deployed

REPO = Path(__file__).resolve().parents[2]


def dockerfiles() -> list[Path]:
    """The repository's Dockerfiles (parts judged relative to the checkout, so a checkout
    that sits under a folder named `build` still finds them), or the ones named in
    LUCIA_GATE_DOCKERFILES (`:`-separated), to check an operator's own."""
    given = os.environ.get("LUCIA_GATE_DOCKERFILES")
    if given:
        return [Path(p) for p in given.split(":") if p]
    return sorted(p.relative_to(REPO) for p in REPO.glob("**/Dockerfile")
                  if not {".venv", "build"} & set(p.relative_to(REPO).parts))


DOCKERFILES = dockerfiles()
SECRET_LIKE = re.compile(r"(PASSWORD|TOKEN|SECRET|API_KEY|ACCESS_KEY)=\S+", re.IGNORECASE)


@pytest.fixture
def image(engine: docker.DockerClient, inspect: dict[str, Any]) -> Any:
    """The image the running container was created from (by id), not the stack's idea."""
    return engine.images.get(inspect["Image"])


def test_cis_4_1_image_user_is_not_root(image: Any, component: str) -> None:
    """4.1 Ensure that a user for the container has been created (neither the user nor
    the group is root or 0)."""
    user = image.attrs["Config"].get("User") or ""
    parts = user.split(":")
    assert user, f"{component} image: no USER (runs as root); add a non-root USER"
    assert not {"", "root", "0"} & set(parts), \
        f"{component} image: USER {user} is root (user or group); add a non-root USER"


def test_cis_4_6_healthcheck_in_image(image: Any, component: str) -> None:
    """4.6 Ensure that HEALTHCHECK instructions have been added to container images
    (HEALTHCHECK NONE turns it off, so it does not count)."""
    test = (image.attrs["Config"].get("Healthcheck") or {}).get("Test") or []
    assert test, f"{component} image: no HEALTHCHECK; add one"
    assert test[0] != "NONE", f"{component} image: HEALTHCHECK NONE; add a real one"


def test_cis_4_8_no_setuid_setgid_files(component: str, host: testinfra.host.Host) -> None:
    """4.8 Ensure setuid and setgid permissions are removed."""
    found = host.run("find / -xdev -perm /6000 -type f 2>/dev/null").stdout.split()
    assert found == [], f"{component}: setuid/setgid files {found}; chmod a-s them"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_cis_4_9_copy_not_add(dockerfile: Path) -> None:
    """4.9 Ensure that COPY is used instead of ADD in Dockerfiles."""
    adds = [line for line in (REPO / dockerfile).read_text().splitlines()
            if line.strip().upper().startswith("ADD ")]
    assert adds == [], f"{dockerfile}: use COPY instead of {adds}"


def test_cis_4_10_no_secrets_in_image(image: Any, component: str, deployed: Deployed) -> None:
    """4.10 Ensure secrets are not stored in Dockerfiles (history, labels, env)."""
    history = " ".join(step.get("CreatedBy", "") for step in image.history())
    config = image.attrs["Config"]
    text = " ".join([history, str(config.get("Labels")), " ".join(config.get("Env") or [])])
    for name, value in deployed.secrets.items():
        assert not value or value not in text, f"{component} image contains {name}"
    assert not SECRET_LIKE.search(text), f"{component} image: {SECRET_LIKE.search(text)}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_lucia_pinned_base_images(dockerfile: Path) -> None:
    """Every FROM names a tag, never latest (a build ARG default counts). `scratch` is
    Docker's reserved name for no base at all: nothing is pulled, so there is nothing to
    pin."""
    text = (REPO / dockerfile).read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
    for reference in re.findall(r"^FROM (\S+)", text, re.MULTILINE):
        reference = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), reference)
        if reference == "scratch":
            continue
        assert ":" in reference, f"{dockerfile}: FROM {reference} has no tag"
        assert not reference.endswith(":latest"), f"{dockerfile}: FROM {reference} is latest"


def test_lucia_deployed_images_are_pinned(inspect: dict[str, Any], component: str,
                                         engine: docker.DockerClient) -> None:
    """The running container's image carries a pinned tag (never latest)."""
    tags = engine.images.get(inspect["Image"]).tags
    assert tags, f"{component}: its image {inspect['Image'][:19]} has no tag"
    reference = next((t for t in tags if not t.endswith(":latest")), tags[0])
    assert ":" in reference, f"{component}: {reference} has no tag"
    assert not reference.endswith(":latest"), f"{component}: {reference} is latest"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_lucia_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    """hadolint finds nothing, down to info level; every ignore carries its reason."""
    binary = shutil.which("hadolint") or str(Path(__import__("sys").executable).with_name(
        "hadolint"))
    result = subprocess.run([binary, "--no-color", "--failure-threshold", "info",
                             str(REPO / dockerfile)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, f"{dockerfile}:\n{result.stdout}{result.stderr}"
    lines = (REPO / dockerfile).read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            reason = lines[number - 1] if number else ""
            assert reason.startswith("#"), f"{dockerfile}:{number + 1} lacks a reason"
            assert "hadolint" not in reason, f"{dockerfile}:{number + 1} lacks a reason"
