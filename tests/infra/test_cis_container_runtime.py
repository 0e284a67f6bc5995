"""CIS Docker Benchmark v1.6.0, section 5 (container runtime), from `docker inspect` and
from inside each running container. Each test is named by its CIS id, parametrized over
the stack's containers (for the swarm stack: every running task of each service, and the
edge), and names the container and the fix when it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest
import testinfra

from lucia_policies.rules import restart_problems
from tests.infra.conftest import swarm_service
from tests.support.deployed import Deployed, base_stack

APPARMOR = Path("/sys/module/apparmor")


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
    # The writable tmpfs as the kernel has it (a container's --tmpfs, or a Swarm task's
    # tmpfs mount); Swarm's read-only secret files are tmpfs too, and not writable.
    # Volumes and binds are the container's data, not its root (a bind of a host tmpfs
    # shows as tmpfs too): only its own tmpfs mounts count.
    attached = {m["Destination"] for m in inspect["Mounts"] if m["Type"] in ("bind", "volume")}
    writable = {}
    for line in host.file("/proc/mounts").content_string.splitlines():
        _, path, kind, options, *_ = line.split()
        if kind == "tmpfs" and "rw" in options.split(",") and path not in attached \
                and not path.startswith(("/dev", "/sys", "/proc")):
            writable[path] = set(options.split(","))
    assert set(writable) == {"/tmp"}, f"{component}: writable tmpfs {sorted(writable)}"
    assert {"noexec", "nosuid", "nodev"} <= writable["/tmp"], \
        f"{component}: tmpfs /tmp needs noexec,nosuid,nodev"


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
    """5.26 Ensure that the container is restricted from acquiring additional privileges.

    A container asks for it; a Swarm task cannot on API 1.41 and has it from the daemon's
    `no-new-privileges` (docs/swarm.md). Either way PID 1 must run with no_new_privs."""
    if "com.docker.swarm.task.id" not in inspect["Config"]["Labels"]:
        assert "no-new-privileges:true" in (inspect["HostConfig"]["SecurityOpt"] or []), \
            f"{component}: add security_opt no-new-privileges:true"
    assert "NoNewPrivs:\t1" in host.file("/proc/1/status").content_string, \
        f"{component}: PID 1 can gain privileges (set the daemon's no-new-privileges)"


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


def test_cis_5_2_apparmor_profile(inspect: dict[str, Any], component: str) -> None:
    """5.2 Ensure that, if applicable, an AppArmor Profile is enabled.

    Applicable only where the host kernel has AppArmor; there the profile must be set and
    not unconfined (an empty profile means none)."""
    if not APPARMOR.exists():
        pytest.skip(f"5.2 not applicable: this host's kernel has no AppArmor ({APPARMOR} "
                    "is absent), so no container can have a profile")
    profile = inspect.get("AppArmorProfile") or ""
    assert profile not in ("", "unconfined"), \
        f"{component}: AppArmor profile is {profile or 'empty'}; use docker-default"


def test_cis_5_22_seccomp_not_disabled(inspect: dict[str, Any], component: str,
                                       host: testinfra.host.Host) -> None:
    """5.22 Ensure the default seccomp profile is not Disabled."""
    options = [o.replace("=", ":") for o in inspect["HostConfig"]["SecurityOpt"] or []]
    assert "seccomp:unconfined" not in options, f"{component}: remove seccomp:unconfined"
    assert "Seccomp:\t2" in host.file("/proc/1/status").content_string, \
        f"{component}: PID 1 is not in seccomp filter mode"


def test_cis_5_6_no_sensitive_host_mounts(inspect: dict[str, Any], component: str) -> None:
    """5.6 Ensure sensitive host system directories are not mounted on containers (and 5.32
    Ensure that the Docker socket is not mounted inside any containers)."""
    binds = [m for m in inspect["Mounts"] if m["Type"] == "bind"]
    assert binds == [], f"{component}: host directories mounted {binds}; use named volumes"
    assert not any("docker.sock" in str(m.get("Source")) for m in inspect["Mounts"])


def test_cis_5_7_no_sshd_or_sudo(component: str, host: testinfra.host.Host) -> None:
    """5.7 Ensure sshd is not run within containers (and no sudo to climb with)."""
    commands = host.run("cat /proc/[0-9]*/comm").stdout.split()
    assert "sshd" not in commands, f"{component}: sshd is running"
    for binary in ("sshd", "sudo", "su"):
        found = host.run(f"command -v {binary}")
        if binary == "su" and found.rc == 0:
            # minbase ships su; it must at least not be setuid (4.8 checks every file)
            assert not host.file(found.stdout.strip()).mode & 0o4000
            continue
        assert found.rc != 0, f"{component}: {binary} is installed"


def test_cis_5_8_only_expected_ports_published(inspect: dict[str, Any], component: str,
                                               deployed: Deployed) -> None:
    """5.8 Ensure privileged ports are not mapped / 5.9 only needed ports are open."""
    published = set(inspect["HostConfig"]["PortBindings"] or {})
    # In the swarm stack only the edge publishes (Swarm cannot bind 127.0.0.1).
    expected = {"service": set() if deployed.swarm else {"8080/tcp"},
                "redis": {"6379/tcp"} if deployed.outputs.get("redis_published_port") else set(),
                "edge": {"8080/tcp"}}
    assert published == expected[component], \
        f"{component}: publishes {sorted(published)}, expected {sorted(expected[component])}"


def test_cis_5_10_no_host_network(inspect: dict[str, Any], component: str) -> None:
    """5.10 Ensure that the host's network namespace is not shared."""
    assert inspect["HostConfig"]["NetworkMode"] != "host", f"{component}: network_mode host"


def test_cis_5_15_restart_policy(inspect: dict[str, Any], component: str,
                                 deployed: Deployed, engine: docker.DockerClient) -> None:
    """5.15 Ensure that the 'on-failure' container restart policy is set to '5'.

    on-failure with 1-5 retries; `unless-stopped` only on a stack whose exception is
    documented (RESTART_EXCEPTIONS: dev, homelab); `always` nowhere. A Swarm task is
    restarted by Swarm, so its service's restart policy is what counts."""
    service = swarm_service(inspect, engine)
    if service is not None:
        restart = service["Spec"]["TaskTemplate"].get("RestartPolicy") or {}
        problems = restart_problems(base_stack(deployed.stack), restart.get("Condition")
                                    or "any", int(restart.get("MaxAttempts") or 0))
        assert problems == [], f"{component}: service restart policy {restart}: {problems}"
        return
    policy = inspect["HostConfig"]["RestartPolicy"]
    problems = restart_problems(base_stack(deployed.stack), policy["Name"] or "no",
                                policy["MaximumRetryCount"])
    assert problems == [], f"{component}: {'; '.join(problems)}"


@pytest.mark.parametrize("mode", ["PidMode", "IpcMode", "UTSMode", "UsernsMode"])
def test_cis_5_16_5_17_5_21_5_31_no_host_namespaces(inspect: dict[str, Any], component: str,
                                                    mode: str) -> None:
    """5.16/5.17/5.21/5.31 Ensure that the host's process, IPC, UTS and user namespaces
    are not shared."""
    assert inspect["HostConfig"][mode] != "host", f"{component}: {mode} is host"


def test_cis_5_18_no_host_devices(inspect: dict[str, Any], component: str) -> None:
    """5.18 Ensure that host devices are not directly exposed to containers."""
    assert not inspect["HostConfig"]["Devices"], f"{component}: remove devices"


def test_cis_5_20_no_shared_mount_propagation(inspect: dict[str, Any], component: str) -> None:
    """5.20 Ensure mount propagation mode is not set to shared."""
    shared = [m for m in inspect["Mounts"] if m.get("Propagation") in ("shared", "rshared")]
    assert shared == [], f"{component}: shared propagation on {shared}"


def test_cis_5_29_pids_limit(inspect: dict[str, Any], component: str) -> None:
    """5.29 Ensure that the PIDs cgroup limit is used.

    The program sets it with `docker update --pids-limit` (pulumi-docker's Container has no
    such input); 0 or -1 means unlimited."""
    limit = inspect["HostConfig"].get("PidsLimit") or 0
    assert 0 < limit <= 4096, (f"{component}: PidsLimit is {limit} (unlimited); the stack's "
                               "pids-limit command did not run (docker update --pids-limit N)")


def test_lucia_only_expected_listening_sockets(component: str,
                                               host: testinfra.host.Host) -> None:
    """Only the service's or Redis's own port listens (from /proc; no ss in the images)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in host.file(table).content_string.splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            # 127.0.0.11 is Docker's embedded DNS resolver in the container's namespace.
            if state == "0A" and address != "0B00007F":
                listening.add(int(port, 16))
    # The edge's own health frontend (docs/edge.md) listens on 127.0.0.1 only.
    assert listening == {"service": {8080}, "redis": {6379}, "edge": {8080, 8404}}[component], \
        f"{component}: listening on {sorted(listening)}"


def test_lucia_no_package_manager_caches(component: str, host: testinfra.host.Host) -> None:
    """No apt lists or archives, no pip cache, no pip."""
    leftovers = host.run("find /var/lib/apt/lists /var/cache/apt /root/.cache -type f "
                         "! -name lock 2>/dev/null; command -v pip pip3").stdout.split()
    assert leftovers == [], f"{component}: package manager leftovers {leftovers}"


def test_lucia_code_not_writable_by_runtime_user(component: str,
                                                 host: testinfra.host.Host) -> None:
    """The runtime user can run the code but not change it (owned by root, not writable)."""
    code = {"service": "/opt/venv", "redis": "/usr/bin/redis-server",
            "edge": "/usr/sbin/haproxy"}[component]
    writable = host.run(f"find {code} -writable -print -quit").stdout.strip()
    assert writable == "", f"{component}: {writable} is writable by the runtime user"
    assert host.file(code).uid == 0, f"{component}: {code} is not owned by root"
