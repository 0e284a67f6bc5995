"""Container hardening, written once. Each setting carries its CIS Docker Benchmark
v1.6.0 id, so `grep 5.13` finds the setting here, the policy and the gate test."""

from __future__ import annotations

from typing import Any

import pulumi_docker as docker

CIS_VERSION = "1.6.0"
TMPFS_OPTIONS = "rw,noexec,nosuid,nodev"


def hardened(*, user: str, cpus: float, memory_mb: int, tmpfs_mb: int, restart: str,
             max_retries: int, log_max_size: str, log_max_files: int) -> dict[str, Any]:
    """Keyword arguments for `docker.Container` that every lucia container gets."""
    settings: dict[str, Any] = {
        "user": user,                                                 # CIS 4.1 non-root
        "capabilities": docker.ContainerCapabilitiesArgs(drops=["ALL"]),  # CIS 5.4
        "privileged": False,                                          # CIS 5.5
        "read_only": True,                                            # CIS 5.13
        "tmpfs": {"/tmp": f"{TMPFS_OPTIONS},size={tmpfs_mb}m"},      # CIS 5.13 writable /tmp
        "memory": memory_mb,                                          # CIS 5.11
        "memory_swap": memory_mb,                                     # CIS 5.11 no extra swap
        "cpus": f"{cpus:g}",                                          # CIS 5.12
        "security_opts": ["no-new-privileges:true"],                  # CIS 5.26
        "restart": restart,                                           # CIS 5.15
        "init": True,             # reaps zombies and forwards SIGTERM to the app
        "log_driver": "json-file",
        "log_opts": {"max-size": log_max_size, "max-file": str(log_max_files)},
        # CIS 5.10/5.16/5.17/5.21/5.31: no host network, PID, IPC, UTS or user namespace;
        # the defaults are private, and the policies reject any host mode.
        # CIS 5.29 (PIDs limit): pulumi-docker 5.x Container has no pids_limit input; a
        # documented exception (docs/deployment.md), reported by the hardening gate.
    }
    if restart == "on-failure":
        settings["max_retry_count"] = max_retries                     # CIS 5.15
    return settings


def labels(project: str, stack: str, component: str) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in
            label_map(project, stack, component).items()]


def label_map(project: str, stack: str, component: str) -> dict[str, str]:
    return {"io.lucia.project": project, "io.lucia.stack": stack,
            "io.lucia.component": component}
