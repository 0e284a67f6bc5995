"""Images without a registry.

Base images come from Debian packages: `debootstrap --variant=minbase` into a folder,
then `docker import`. The mirror is read from the host's apt sources (or
LUCIA_DEBIAN_MIRROR), never hard-coded. The service image is built from
service/Dockerfile with a wheelhouse made on the host, because PyPI is not reachable from
inside a container. Registry images (e.g. `redis:8.2-alpine`) are pulled instead when a
stack names one.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lucia_deploy.progress import say, step

REPO = Path(__file__).resolve().parents[3]
WHEELHOUSE = REPO / "build" / "wheelhouse"
# The service's runtime dependencies, pinned with hashes (infra/lock.sh, `make lock`).
SERVICE_LOCK = REPO / "requirements" / "service.lock"
SUITE = "bookworm"


class ImageError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class BaseRecipe:
    """A debootstrap'd base. Bump the -rN in the tag when the recipe changes.

    `on_demand` bases are not made by `python -m lucia_deploy.images` (bootstrap): only
    the build that needs one makes it, so a stack that does not use it never waits for
    its debootstrap."""

    tag: str
    packages: tuple[str, ...]
    on_demand: bool = False


BASES = {
    "python": BaseRecipe("lucia-base:bookworm-python-r1",
                         ("python3", "python3-venv", "ca-certificates")),
    "redis": BaseRecipe("lucia-base:bookworm-redis-r1", ("redis-server", "redis-tools")),
    # The edge of scaled-out stacks (infra/images/haproxy): HAProxy 2.6 from bookworm.
    "haproxy": BaseRecipe("lucia-base:bookworm-haproxy-r1", ("haproxy",), on_demand=True),
}
# What a base leaves out: apt lists and caches, docs, man pages, locales.
PRUNE = ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man",
         "usr/share/info", "usr/share/locale", "var/log")


def debian_mirror() -> str:
    """The host's Debian mirror for the bookworm suite, from its apt sources."""
    if override := os.environ.get("LUCIA_DEBIAN_MIRROR"):
        return override
    sources = Path("/etc/apt")
    candidates: list[tuple[str, str]] = []  # (uri, suites)
    for path in sorted(sources.glob("sources.list.d/*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.MULTILINE))
            if "deb" in fields.get("Types", "").split() and "URIs" in fields:
                candidates += [(uri, fields.get("Suites", "")) for uri in fields["URIs"].split()]
    for path in [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = re.sub(r"\[.*?\]", "", line).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    candidates.append((parts[1], parts[2]))
    for uri, suites in candidates:
        if SUITE in suites.split() and "security" not in uri:
            return uri
    raise ImageError("no Debian bookworm mirror in /etc/apt; set LUCIA_DEBIAN_MIRROR")


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_base(client: docker.DockerClient, recipe: BaseRecipe) -> None:
    if image_exists(client, recipe.tag):
        return
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="lucia-base-") as tmp:
        root = Path(tmp) / "root"
        with step(f"debootstrap {SUITE} minbase + {', '.join(recipe.packages)} "
                  f"for {recipe.tag} (about a minute)"):
            result = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}",
                 SUITE, str(root), mirror],
                capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ImageError(f"debootstrap failed:\n{result.stdout[-2000:]}"
                                 f"{result.stderr[-2000:]}")
        for relative in PRUNE:
            target = root / relative
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        archive = Path(tmp) / "root.tar"
        with step(f"docker import {recipe.tag}"):
            subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True)
            repository, tag = recipe.tag.split(":")
            client.api.import_image(src=str(archive), repository=repository, tag=tag,
                                    changes=['CMD ["/bin/bash"]'])


def image_python(client: docker.DockerClient, image: str) -> str:
    """The exact Python version of an image: environment markers (e.g. redis-py's
    `python_full_version < "3.11.3"`) depend on the patch level, not only 3.11."""
    output = client.containers.run(image, ["python3", "-c",
                                           "import platform; print(platform.python_version())"],
                                   remove=True, network_disabled=True)
    return output.decode().strip()


def image_environment(python_version: str) -> dict[str, str]:
    """Marker values of the image's interpreter (pip's --python-version sets only
    python_version, not python_full_version, so markers are evaluated here)."""
    return {
        **{key: str(value) for key, value in default_environment().items()},
        "python_full_version": python_version,
        "python_version": ".".join(python_version.split(".")[:2]),
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
        "platform_machine": platform.machine(), "extra": "",
    }


def locked_for(lock: Path, environment: dict[str, str]) -> list[str]:
    """The lock's requirements that apply to `environment`, one per line with its hashes
    and without its marker (`name==version --hash=... --hash=...`)."""
    entries: list[list[str]] = []
    current: list[str] | None = None
    for raw in lock.read_text().splitlines():
        line = raw.strip().removesuffix("\\").strip()
        if not line or line.startswith("#"):
            continue
        if not raw.startswith((" ", "\t")):
            requirement = Requirement(line)
            applies = requirement.marker is None or requirement.marker.evaluate(environment)
            current = [f"{requirement.name}{requirement.specifier}"] if applies else None
            if current is not None:
                entries.append(current)
        elif current is not None and line.startswith("--hash="):
            current.append(line)
    return [" ".join(entry) for entry in entries]


def build_wheelhouse(python_version: str) -> None:
    """Wheels of lucia and its locked dependencies (requirements/service.lock, hashes
    checked) for the image's Python, downloaded on the host."""
    if WHEELHOUSE.exists():
        shutil.rmtree(WHEELHOUSE)
    WHEELHOUSE.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir"]
    machine = platform.machine()
    platforms = [f"--platform={tag}_{machine}" for tag in
                 ("manylinux_2_36", "manylinux_2_34", "manylinux_2_28", "manylinux_2_17",
                  "manylinux2014", "linux")]
    requirements = WHEELHOUSE.parent / "wheelhouse-requirements.txt"
    requirements.write_text("\n".join(locked_for(SERVICE_LOCK,
                                                  image_environment(python_version))) + "\n")
    with step("building the wheelhouse for the service image (requirements/service.lock)"):
        subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(WHEELHOUSE),
                        str(REPO / "service")], check=True)
        subprocess.run([*pip, "download", "--quiet", "--no-deps", "--require-hashes",
                        "--only-binary=:all:", f"--python-version={python_version}",
                        "--implementation=cp", *platforms, "--dest", str(WHEELHOUSE),
                        "-r", str(requirements)], check=True)
    missing = sorted(missing_requirements(python_version))
    if missing:
        raise ImageError(f"requirements/service.lock lacks {missing}, which the service "
                         "needs: run `make lock`")


def missing_requirements(python_version: str) -> set[str]:
    """Requirements of the wheelhouse's wheels that apply to the image but are absent."""
    environment = image_environment(python_version)
    present = {canonicalize_name(wheel.name.split("-")[0]) for wheel in WHEELHOUSE.glob("*.whl")}
    missing = set()
    for wheel in WHEELHOUSE.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = archive.read(meta_name).decode()
        for line in metadata.splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.split(":", 1)[1].strip())
            applies = requirement.marker is None or requirement.marker.evaluate(environment)
            if applies and canonicalize_name(requirement.name) not in present:
                missing.add(str(requirement).split(";")[0].strip())
    return missing


def _stream_build(client: docker.DockerClient, *, path: str, tag: str,
                  labels: dict[str, str], dockerfile: str | None = None,
                  buildargs: dict[str, str] | None = None) -> None:
    recent: list[str] = []
    for chunk in client.api.build(path=path, tag=tag, labels=labels, dockerfile=dockerfile,
                                  buildargs=buildargs, decode=True, rm=True, forcerm=True):
        if "error" in chunk:
            context = "\n".join(recent[-25:])
            raise ImageError(f"docker build failed: {chunk['error'].strip()}\n{context}")
        line = chunk.get("stream", "").strip()
        if line:
            recent.append(line)
        if line.startswith("Step "):
            say(f"  {line}")


def service_version() -> str:
    text = (REPO / "service" / "pyproject.toml").read_text()
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not found:
        raise ImageError("no version in service/pyproject.toml")
    return found.group(1)


def git_revision() -> str:
    result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def build_service(client: docker.DockerClient, tag: str, configuration: str,
                  labels: dict[str, str] | None = None) -> None:
    build_base(client, BASES["python"])
    build_wheelhouse(image_python(client, BASES["python"].tag))
    with step(f"docker build {tag} ({configuration})"):
        _stream_build(client, path=str(REPO), dockerfile="service/Dockerfile", tag=tag,
                      buildargs={"BUILD_CONFIGURATION": configuration,
                                 "VERSION": service_version(), "REVISION": git_revision()},
                      labels=labels or {})


def build_redis(client: docker.DockerClient, tag: str,
                labels: dict[str, str] | None = None) -> None:
    build_base(client, BASES["redis"])
    with step(f"docker build {tag}"):
        _stream_build(client, path=str(REPO / "infra" / "images" / "redis"), tag=tag,
                      labels=labels or {})


# The edge of scaled-out stacks: HAProxy as Debian bookworm ships it (2.6), built from
# infra/images/haproxy. No existing stack builds it; the swarm program names it.
EDGE_SOURCE = REPO / "infra" / "images" / "haproxy"
LOCAL_EDGE_IMAGE = "lucia-edge:2.6-bookworm-r1"


def build_edge(client: docker.DockerClient, tag: str = LOCAL_EDGE_IMAGE,
               labels: dict[str, str] | None = None) -> None:
    """The edge image: the haproxy base (debootstrap'd on first use), then its
    Dockerfile, which checks the configuration while it builds."""
    build_base(client, BASES["haproxy"])
    with step(f"docker build {tag}"):
        _stream_build(client, path=str(EDGE_SOURCE), tag=tag, labels=labels or {})


def build_sims(client: docker.DockerClient, tag: str, service_image: str,
               labels: dict[str, str] | None = None) -> None:
    with step(f"docker build {tag} (simulators on {service_image})"):
        _stream_build(client, path=str(REPO / "sims"), tag=tag,
                      buildargs={"SERVICE_IMAGE": service_image}, labels=labels or {})


def pull(client: docker.DockerClient, reference: str) -> None:
    if image_exists(client, reference):
        return
    with step(f"docker pull {reference}"):
        try:
            client.images.pull(reference)
        except docker.errors.APIError as exc:
            raise ImageError(
                f"cannot pull {reference} ({exc.explanation}); no registry is reachable "
                "here, so leave the stack's image settings empty to build from Debian "
                "packages") from None


def main() -> None:
    """Build the base images that are missing (`python -m lucia_deploy.images`), except
    the on-demand ones, which the build that needs them makes."""
    client = docker.from_env(timeout=120)
    for recipe in BASES.values():
        if recipe.on_demand:
            continue
        if image_exists(client, recipe.tag):
            say(f"{recipe.tag}: present")
        else:
            build_base(client, recipe)


if __name__ == "__main__":
    main()
