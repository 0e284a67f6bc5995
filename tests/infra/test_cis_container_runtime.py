"""CIS Docker Benchmark v1.6.0, section 5 (container runtime), from `docker inspect` and
from inside each running container. Each test is named by its CIS id, parametrized over
both containers, and names the container and the fix when it fails."""

from __future__ import annotations

from typing import Any

import testinfra

from tests.infra.conftest import Deployed


def test_cis_4_1_container_user_is_not_root(inspect: dict[str, Any], component: str,
                                            host: testinfra.host.Host) -> None:
    """4.1 Ensure that a user for the container has been created."""
    user = inspect["Config"]["User"]
    assert user not in ("", "root", "0", "0:0"), f"{component}: runs as root; set user"
    uid = host.file("/proc/self/status").content_string
    effective = next(line.split()[2] for line in uid.splitlines() if line.startswith("Uid:"))
    assert effective != "0", f"{component}: effective UID is 0 inside the container"


def test_cis_5_4_capabilities_dropped(inspect: dict[str, Any], component: str,
                                      host: testinfra.host.Host) -> None:
    """5.4 Ensure that Linux kernel capabilities are restricted within containers."""
    assert inspect["HostConfig"]["CapDrop"] == ["ALL"], f"{component}: add cap_drop ALL"
    assert not inspect["HostConfig"]["CapAdd"], f"{component}: remove cap_add"
    status = host.file("/proc/1/status").content_string
    caps = {line.split(":")[0]: line.split()[1] for line in status.splitlines()
            if line.startswith(("CapEff", "CapBnd", "CapPrm"))}
    assert caps == {"CapPrm": "0" * 16, "CapEff": "0" * 16, "CapBnd": "0" * 16}, \
        f"{component}: PID 1 still holds capabilities {caps}"


def test_cis_5_5_not_privileged(inspect: dict[str, Any], component: str) -> None:
    """5.5 Ensure that privileged containers are not used."""
    assert inspect["HostConfig"]["Privileged"] is False, f"{component}: remove --privileged"


def test_cis_5_11_memory_limited(inspect: dict[str, Any], component: str) -> None:
    """5.11 Ensure that the memory usage for containers is limited."""
    assert inspect["HostConfig"]["Memory"] > 0, f"{component}: set a memory limit"


def test_cis_5_12_cpu_limited(inspect: dict[str, Any], component: str) -> None:
    """5.12 Ensure that CPU priority is set appropriately on containers."""
    host_config = inspect["HostConfig"]
    assert host_config["NanoCpus"] or host_config["CpuShares"], f"{component}: set cpus"


def test_cis_5_13_read_only_rootfs(inspect: dict[str, Any], component: str,
                                   host: testinfra.host.Host) -> None:
    """5.13 Ensure that the container's root filesystem is mounted as read only."""
    assert inspect["HostConfig"]["ReadonlyRootfs"] is True, f"{component}: set read_only"
    write = host.run("touch /lucia-write-probe")
    assert write.rc != 0, f"{component}: writing to / succeeded"
    assert "Read-only file system" in write.stderr
    for path, options in inspect["HostConfig"]["Tmpfs"].items():
        assert {"noexec", "nosuid", "nodev"} <= set(options.split(",")), \
            f"{component}: tmpfs {path} needs noexec,nosuid,nodev"
    assert set(inspect["HostConfig"]["Tmpfs"]) == {"/tmp"}, f"{component}: unexpected tmpfs"


def test_cis_5_14_ports_bound_to_loopback(inspect: dict[str, Any], component: str) -> None:
    """5.14 Ensure that incoming container traffic is bound to a specific host interface."""
    for port, bindings in (inspect["HostConfig"]["PortBindings"] or {}).items():
        for binding in bindings:
            assert binding["HostIp"] == "127.0.0.1", \
                f"{component}: {port} published on {binding['HostIp'] or '0.0.0.0'}; " \
                "publish on 127.0.0.1"
            assert int(binding["HostPort"]) > 1024, f"{component}: privileged host port (5.8)"


def test_cis_5_26_no_new_privileges(inspect: dict[str, Any], component: str,
                                    host: testinfra.host.Host) -> None:
    """5.26 Ensure that the container is restricted from acquiring additional privileges."""
    assert "no-new-privileges:true" in inspect["HostConfig"]["SecurityOpt"], \
        f"{component}: add security_opt no-new-privileges:true"
    assert "NoNewPrivs:\t1" in host.file("/proc/1/status").content_string


def test_cis_5_27_health_is_healthy(inspect: dict[str, Any], component: str) -> None:
    """5.27 Ensure that container health is checked at runtime."""
    assert inspect["Config"]["Healthcheck"]["Test"], f"{component}: add a healthcheck"
    assert inspect["State"]["Health"]["Status"] == "healthy", \
        f"{component}: health is {inspect['State']['Health']['Status']}"


def test_cis_5_30_own_network(inspect: dict[str, Any], component: str,
                              deployed: Deployed) -> None:
    """5.30 Ensure that Docker's default bridge "docker0" is not used."""
    networks = set(inspect["NetworkSettings"]["Networks"])
    assert networks == {deployed.outputs["network"]}, \
        f"{component}: on {networks}; attach only to the stack network"
