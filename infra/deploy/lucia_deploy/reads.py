"""What the provider's Read takes from the engine on a refresh, in the state's shape: a
container's fields that can change while it lives, a service's whole spec. The sources
are those of lucia_deploy/provider.py (CF, SF, SS, H at kreuzwerker v4.5.0); a refresh
writes these over the state, and provider.diff then plans against the program as the
provider's Diff would."""

from __future__ import annotations

from typing import Any

from lucia_deploy import provider
from lucia_stack import cpus

_MIB = 1024 * 1024


def read_container(attrs: dict[str, Any]) -> dict[str, Any]:
    """CF:750-990 (resourceDockerContainerRead), for every field a container can change
    while it lives: its name (`docker rename`), whether it runs, and what `docker update`
    sets. Read writes these from the inspect on every refresh, so a change by hand is a
    diff against the program on the next `up`: an update in place that sets the program's
    value back (restart policy, memory, swap, and CPU shares, cpuset or reservation where
    the program sets them) or a replacement (name, cpus). A CPU share, cpuset or
    reservation the program leaves unset stays as set by hand and shows on every plan: the
    provider's Update sends 0 or "", which Docker reads as "leave it" (CF:1032-1036). Every
    other field Read sets was fixed when the container was created, and reads back what it
    read then (`read_back`)."""
    host = attrs["HostConfig"]
    policy = host.get("RestartPolicy") or {}
    out: dict[str, Any] = {
        "name": attrs["Name"].lstrip("/"),                             # CF:828
        "restart": policy.get("Name") or "",                           # CF:857
        "maxRetryCount": int(policy.get("MaximumRetryCount") or 0),    # CF:858
        "memory": int(host.get("Memory") or 0) // _MIB,                # CF:932
        "cpuShares": int(host.get("CpuShares") or 0),                  # CF:949
        "cpuSet": host.get("CpusetCpus") or "",                        # CF:950
    }
    for key, field_ in (("memoryReservation", "MemoryReservation"),   # CF:934-944
                        ("memorySwap", "MemorySwap")):
        value = int(host.get(field_) or 0)
        out[key] = value // _MIB if value > 0 else value
    if int(host.get("NanoCpus") or 0) > 0:                             # CF:946-948
        out["cpus"] = cpus.nano_to_decimal_string(int(host["NanoCpus"]))
    if not attrs["State"]["Running"]:                                  # CF:815-824
        out["mustRun"] = False
    return out


def _labels(labels: dict[str, str] | None) -> list[dict[str, str]]:
    """H:46-55 mapToLabelSet."""
    return [{"label": k, "value": v} for k, v in (labels or {}).items()]


def _short(nanos: Any) -> str:
    return provider.short_duration(provider.format_duration(int(nanos or 0)))


def _update_or_rollback(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """SS:78-93."""
    if config is None:
        return None
    return {"parallelism": int(config.get("Parallelism") or 0),
            "delay": _short(config.get("Delay")),
            "failureAction": config.get("FailureAction") or "",
            "monitor": _short(config.get("Monitor")),
            "maxFailureRatio": f"{float(config.get('MaxFailureRatio') or 0):.1f}",
            "order": config.get("Order") or ""}


def _container_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """SS:117-203 flattenContainerSpec: a field is written only when the engine has it."""
    out: dict[str, Any] = {}
    plain = (("Image", "image"), ("Command", "commands"), ("Args", "args"),
             ("Hostname", "hostname"), ("User", "user"), ("Dir", "dir"),
             ("Groups", "groups"), ("StopSignal", "stopSignal"), ("Isolation", "isolation"),
             ("Sysctls", "sysctl"), ("CapabilityAdd", "capAdds"),
             ("CapabilityDrop", "capDrops"))
    for field_, key in plain:
        if spec.get(field_):
            out[key] = spec[field_]
    if spec.get("Labels"):
        out["labels"] = _labels(spec["Labels"])
    if spec.get("Env"):                                   # SS:1363 mapStringSliceToMap
        out["env"] = {k: v for k, _, v in (i.partition("=") for i in spec["Env"] if i)}
    if spec.get("Privileges") is not None:
        out["privileges"] = _privileges(spec["Privileges"])
    if spec.get("ReadOnly"):
        out["readOnly"] = True
    if spec.get("Mounts"):
        out["mounts"] = [_mount(m) for m in spec["Mounts"]]
    if spec.get("StopGracePeriod") is not None:
        out["stopGracePeriod"] = _short(spec["StopGracePeriod"])
    check = spec.get("Healthcheck")
    if check is not None:                                 # SS:300-316
        out["healthcheck"] = {
            **({"tests": check["Test"]} if check.get("Test") else {}),
            "interval": _short(check.get("Interval")), "timeout": _short(check.get("Timeout")),
            "startPeriod": _short(check.get("StartPeriod")),
            "retries": int(check.get("Retries") or 0)}
    if spec.get("Hosts"):                                 # SS:318-325: "ip host"
        out["hosts"] = [dict(zip(("ip", "host"), h.split(" ")[:2], strict=True))
                        for h in spec["Hosts"]]
    dns = spec.get("DNSConfig")
    if dns is not None:                                   # SS:327-341
        out["dnsConfig"] = {k: dns[f] for f, k in (("Nameservers", "nameservers"),
                                                   ("Search", "searches"),
                                                   ("Options", "options")) if dns.get(f)}
    for field_, key, ref in (("Secrets", "secrets", "secret"),
                             ("Configs", "configs", "config")):
        if spec.get(field_):                              # SS:343-391
            out[key] = [_file_reference(r, ref) for r in spec[field_]]
    if spec.get("Init") is not None:                      # SS:196-200 (API >= 1.37)
        out["init"] = bool(spec["Init"])
    return out


def _privileges(privileges: dict[str, Any]) -> dict[str, Any]:
    """SS:206-235."""
    out: dict[str, Any] = {}
    cred = privileges.get("CredentialSpec")
    if cred is not None:
        out["credentialSpec"] = {"file": cred.get("File") or "",
                                 "registry": cred.get("Registry") or ""}
    selinux = privileges.get("SELinuxContext")
    if selinux is not None:
        out["seLinuxContext"] = {k.lower(): selinux.get(k) or ("" if k != "Disable" else False)
                                 for k in ("Disable", "User", "Role", "Type", "Level")}
    return out


def _mount(mount: dict[str, Any]) -> dict[str, Any]:
    """SS:237-296 flattenServiceMounts; a tmpfs mode as Mode.Perm() (SS:274)."""
    out: dict[str, Any] = {"target": mount.get("Target") or "",
                           "source": mount.get("Source") or "",
                           "type": mount.get("Type") or "",
                           "readOnly": bool(mount.get("ReadOnly"))}
    if mount.get("BindOptions") is not None:
        propagation = mount["BindOptions"].get("Propagation")
        out["bindOptions"] = {"propagation": propagation} if propagation else {}
    volume = mount.get("VolumeOptions")
    if volume is not None:
        driver = volume.get("DriverConfig")
        out["volumeOptions"] = {
            "noCopy": bool(volume.get("NoCopy")), "labels": _labels(volume.get("Labels")),
            **({"driverName": driver["Name"]} if driver and driver.get("Name") else {}),
            **({"driverOptions": driver.get("Options") or {}} if driver is not None else {})}
    tmpfs = mount.get("TmpfsOptions")
    if tmpfs is not None:
        out["tmpfsOptions"] = {"sizeBytes": int(tmpfs.get("SizeBytes") or 0),
                               "mode": int(tmpfs.get("Mode") or 0) & 0o777}
    return out


def _file_reference(ref: dict[str, Any], kind: str) -> dict[str, Any]:
    """SS:343-391: a secret's or config's id, name and file."""
    out: dict[str, Any] = {f"{kind}Id": ref.get(f"{kind.capitalize()}ID") or ""}
    if ref.get(f"{kind.capitalize()}Name"):
        out[f"{kind}Name"] = ref[f"{kind.capitalize()}Name"]
    file = ref.get("File")
    if file is not None:
        out["fileName"] = file.get("Name") or ""
        for field_, key in (("UID", "fileUid"), ("GID", "fileGid")):
            if file.get(field_):
                out[key] = file[field_]
        out["fileMode"] = int(file.get("Mode") or 0)
    return out


def _task_spec(task: dict[str, Any]) -> dict[str, Any]:
    """SS:23-48 flattenTaskSpec."""
    out: dict[str, Any] = {}
    if task.get("ContainerSpec") is not None:
        out["containerSpec"] = _container_spec(task["ContainerSpec"])
    resources = task.get("Resources")
    if resources is not None:                             # SS:393-434 (pids never read)
        limits, reserved = resources.get("Limits"), resources.get("Reservations")
        out["resources"] = {
            **({"limits": {"nanoCpus": int(limits.get("NanoCPUs") or 0),
                           "memoryBytes": int(limits.get("MemoryBytes") or 0)}}
               if limits is not None else {}),
            **({"reservation": {"nanoCpus": int(reserved.get("NanoCPUs") or 0),
                                "memoryBytes": int(reserved.get("MemoryBytes") or 0)}}
               if reserved is not None else {})}
    policy = task.get("RestartPolicy")
    if policy is not None:                                # SS:456-477
        out["restartPolicy"] = {
            **({"condition": policy["Condition"]} if policy.get("Condition") else {}),
            **({"delay": _short(policy["Delay"])} if policy.get("Delay") is not None
               else {}),
            **({"maxAttempts": int(policy["MaxAttempts"])}
               if policy.get("MaxAttempts") is not None else {}),
            **({"window": _short(policy["Window"])} if policy.get("Window") is not None
               else {})}
    placement = task.get("Placement")
    if placement is not None:                             # SS:479-498
        out["placement"] = {
            **({"constraints": placement["Constraints"]} if placement.get("Constraints")
               else {}),
            **({"prefs": [p["Spread"]["SpreadDescriptor"]
                          for p in placement["Preferences"]]}
               if placement.get("Preferences") else {}),
            **({"platforms": [{"architecture": p.get("Architecture") or "",
                               "os": p.get("OS") or ""} for p in placement["Platforms"]]}
               if placement.get("Platforms") else {}),
            "maxReplicas": int(placement.get("MaxReplicas") or 0)}
    out["forceUpdate"] = int(task.get("ForceUpdate") or 0)
    if task.get("Runtime"):
        out["runtime"] = task["Runtime"]
    if task.get("Networks"):                              # SS:526-541: by id only
        out["networksAdvanceds"] = [
            {"id": n.get("Target") or "",
             "driverOpts": [f"{k}={v}" for k, v in (n.get("DriverOpts") or {}).items()],
             **({"aliases": n["Aliases"]} if n.get("Aliases") else {})}
            for n in task["Networks"]]
    log = task.get("LogDriver")
    if log is not None:                                   # SS:551-563
        out["logDriver"] = {"name": log.get("Name") or "",
                            **({"options": log["Options"]} if log.get("Options") else {})}
    return out


def read_service(attrs: dict[str, Any]) -> dict[str, Any]:
    """SF:109-175 (resourceDockerServiceReadRefreshFunc): every field of the service's spec
    as the flatteners of SS write it. Read runs after Create and Update (SF:80, 224) and on
    every refresh, so a `docker service update` by hand is a diff against the program on
    the next `up`, and the Update that follows sends the program's whole spec back."""
    spec = attrs["Spec"]
    endpoint = attrs.get("Endpoint") or {}
    endpoint_spec = (endpoint.get("Spec") if (endpoint.get("Spec") or {}).get("Mode")
                     else spec.get("EndpointSpec")) or {}
    ports = endpoint.get("Ports") if endpoint_spec is endpoint.get("Spec") \
        else endpoint_spec.get("Ports")
    mode = spec.get("Mode") or {}
    replicated = mode.get("Replicated")
    out: dict[str, Any] = {
        "name": spec.get("Name") or "",
        "labels": _labels(spec.get("Labels")),
        "taskSpec": _task_spec(spec.get("TaskTemplate") or {}),
        "mode": {**({"replicated": {"replicas": int(replicated["Replicas"])}
                     if replicated.get("Replicas") is not None else {}}
                    if replicated is not None else {}),
                 "global": mode.get("Global") is not None},     # SS:51-75
        "endpointSpec": {"mode": endpoint_spec.get("Mode") or "",  # SS:95-113, 568-580
                         "ports": [{"name": p.get("Name") or "",
                                    "protocol": p.get("Protocol") or "",
                                    "targetPort": int(p.get("TargetPort") or 0),
                                    "publishedPort": int(p.get("PublishedPort") or 0),
                                    "publishMode": p.get("PublishMode") or ""}
                                   for p in ports or []]},
    }
    for field_, key in (("UpdateConfig", "updateConfig"), ("RollbackConfig", "rollbackConfig")):
        config = _update_or_rollback(spec.get(field_))
        if config is not None:
            out[key] = config
    return out
