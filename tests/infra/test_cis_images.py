"""CIS Docker Benchmark v1.6.0, section 4 (container images and build files), for the
images the stack runs, plus hadolint over every Dockerfile."""

from __future__ import annotations

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
DOCKERFILES = sorted(p.relative_to(REPO) for p in REPO.glob("**/Dockerfile")
                     if ".venv" not in p.parts and "build" not in p.parts)
SECRET_LIKE = re.compile(r"(PASSWORD|TOKEN|SECRET|API_KEY|ACCESS_KEY)=\S+", re.IGNORECASE)


@pytest.fixture
def image(engine: docker.DockerClient, deployed: Deployed, component: str) -> Any:
    return engine.images.get(deployed.outputs[f"{component}_image"])


def test_cis_4_1_image_user_is_not_root(image: Any, component: str) -> None:
    """4.1 Ensure that a user for the container has been created."""
    user = image.attrs["Config"].get("User") or ""
    assert user not in ("", "root", "0", "0:0"), f"{component} image: add a USER"


def test_cis_4_6_healthcheck_in_image(image: Any, component: str) -> None:
    """4.6 Ensure that HEALTHCHECK instructions have been added to container images."""
    assert (image.attrs["Config"].get("Healthcheck") or {}).get("Test"), \
        f"{component} image: add HEALTHCHECK"


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
    """Every FROM names a tag, never latest (a build ARG default counts)."""
    text = (REPO / dockerfile).read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
    for reference in re.findall(r"^FROM (\S+)", text, re.MULTILINE):
        reference = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), reference)
        assert ":" in reference, f"{dockerfile}: FROM {reference} has no tag"
        assert not reference.endswith(":latest"), f"{dockerfile}: FROM {reference} is latest"


def test_lucia_deployed_images_are_pinned(deployed: Deployed, component: str) -> None:
    reference = deployed.outputs[f"{component}_image"]
    assert ":" in reference, f"{component}: {reference} has no tag"
    assert not reference.endswith(":latest"), f"{component}: {reference} is latest"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_lucia_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    """hadolint finds nothing, down to info level; every ignore carries its reason."""
    binary = shutil.which("hadolint") or str(Path(__import__("sys").executable).with_name(
        "hadolint"))
    result = subprocess.run([binary, "--no-color", "--failure-threshold", "info",
                             str(REPO / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, f"{dockerfile}:\n{result.stdout}{result.stderr}"
    lines = (REPO / dockerfile).read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            reason = lines[number - 1] if number else ""
            assert reason.startswith("#"), f"{dockerfile}:{number + 1} lacks a reason"
            assert "hadolint" not in reason, f"{dockerfile}:{number + 1} lacks a reason"
