"""What the real provider does with each property the lucia program sets.

pulumi-docker 5.x bridges kreuzwerker/terraform-provider-docker; lucia's stand-in (the
recording mocks and the docker-py applier) must behave as it does. This table is the one
place that says how, property by property, with the source line it was read from:

- the default the provider's Check fills in (the engine hands these checked inputs to
  policy packs, so policies must judge them, not the program's raw inputs);
- how Read writes the value back into the state (a value that reads back differently from
  what the program gives is a diff on every `pulumi up`);
- what a change does: replace (ForceNew), update in place (the provider's Update), or
  neither (saved in the state, never reaches the container).

The mocks fill defaults and read back through it, the applier plans with it, and
docs/pulumi-fidelity.md is generated from it (`python -m lucia_deploy.fidelity`).

Sources, read at kreuzwerker v4.5.0 (5074970c, the `upstream` submodule of pulumi-docker
v5.1.0 and of its newest commit 237b7899): C = internal/provider/resource_docker_container.go,
CF = resource_docker_container_funcs.go, H = helpers.go, N = resource_docker_network*.go,
V = resource_docker_volume.go, I = resource_docker_image*.go; S = resource_docker_service.go,
SF = resource_docker_service_funcs.go, SS = resource_docker_service_structures.go,
SEC = resource_docker_secret.go; R = pulumi-docker provider/resources.go; B =
pulumi-terraform-bridge v3.133.0 (pinned by pulumi-docker v5.1.0); PC = pulumi-command
1.2.1's local.Command documentation. The service and secret rows were read for lucia's
swarm stack (docs/swarm.md).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

from lucia_stack import cpus

CONTAINER = "docker:index/container:Container"
SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
COMMAND = "command:local:Command"


class Change(StrEnum):
    REPLACE = "replace"        # ForceNew: delete, then create (Container: DeleteBeforeReplace)
    UPDATE = "update"          # the provider's Update changes the running object in place
    STATE = "state only"       # neither: the new value is saved, Docker never sees it


class UnknownProperty(ValueError):
    """The program set a property this table does not describe: refuse, never drop it."""


_MISSING = object()


@dataclass(frozen=True, slots=True)
class Prop:
    name: str                   # the Pulumi (camelCase) name, as inputs arrive
    tf: str                     # the Terraform name in the provider source
    change: Change
    source: str                 # where the behaviour was read
    default: Any = _MISSING     # what Check fills when the program leaves it unset
    read_back: Callable[[Any], Any] | None = None  # how Read writes it to the state
    nested_defaults: dict[str, Any] = field(default_factory=dict)  # per list/object item
    applier: str = ""           # what the docker-py applier does with it
    # For a nested block whose own change is `change`: paths inside it (dotted, `[]` for
    # each item of a list) whose change replaces instead, and paths of sets (order free).
    replace_paths: tuple[str, ...] = ()
    set_paths: tuple[str, ...] = ()
    nested_diff: bool = False   # compared field by field as the SDK does (implied by the two)
    autoname: bool = False      # B autonaming: left unset, Check names it <name>-<7 chars>
    # Optional+Computed paths (dotted as above; "" for the property itself): when the
    # program leaves one unset, whatever Read found there is no diff (SDK schemaMap.diff).
    computed_paths: tuple[str, ...] = ()

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


# --- read-back normalisation, as the provider's Read computes it ------------------------

def read_back_cpus(value: Any) -> str:
    """CF:946-948 + H:131-149: NanoCpus written back by nanoInt64ToDecimalString."""
    return cpus.read_back(value)


_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


def parse_duration(text: str) -> int:
    """Go time.ParseDuration for the forms a healthcheck uses ("5s", "1m30s", "500ms")."""
    if text in ("0", ""):
        return 0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if "".join(a + u for a, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    return int(sum(Fraction(amount) * _UNITS[unit] for amount, unit in parts))


def format_duration(nanos: int) -> str:
    """Go time.Duration.String, for non-negative durations."""
    if nanos == 0:
        return "0s"
    if nanos < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if nanos >= size:
                return _trim(Fraction(nanos, size)) + unit
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(Fraction(rest, 10**9)) + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    return f"{minutes}m{seconds}" if minutes else seconds


def _trim(value: Fraction) -> str:
    text = cpus.float_string(value, 9).rstrip("0")
    return text.rstrip(".")


def read_back_healthcheck(value: dict[str, Any]) -> dict[str, Any]:
    """CF:960-971: durations through Duration.String() ("1m" reads back as "1m0s")."""
    out = dict(value)
    for key in ("interval", "timeout", "startPeriod", "startInterval"):
        if key in out:
            out[key] = format_duration(parse_duration(str(out[key])))
    return out


def read_back_ports(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CF:797-806 + flattenContainerPorts: one entry per binding, sorted by port; the ip
    StateFunc turns "" into "0.0.0.0" (C:487-535)."""
    ports = [{**p, "ip": p.get("ip") or "0.0.0.0"} for p in value]
    return sorted(ports, key=lambda p: (int(p["internal"]), p.get("protocol", "tcp")))


def short_duration(text: Any) -> str:
    """SS:1341-1350 shortDur: Go's Duration.String() with a trailing "m0s" and then "h0m"
    trimmed ("60s" -> "1m", "1h0m0s" -> "1h")."""
    out = format_duration(parse_duration(str(text)))
    if out.endswith("m0s"):
        out = out[:-2]
    if out.endswith("h0m"):
        out = out[:-2]
    return out


def read_back_task_spec(value: dict[str, Any]) -> dict[str, Any]:
    """SS:19-230, 289-305, 456-477, 526-541: what Read writes for the task spec lucia sets:
    durations in shortDur form, a stop grace of "0s" when unset (SS:880-883, 162-164), a
    restart policy's unset delay and window as "0s" (SS:1096-1107), the healthcheck always
    present (SS:884-885), networks by id only (`name` is never read back: S:716), and a
    tmpfs mode as its permission bits (SS:274)."""
    out = copy.deepcopy(value)
    spec = out.setdefault("containerSpec", {})
    spec["stopGracePeriod"] = short_duration(spec.get("stopGracePeriod") or "0s")
    check = spec.setdefault("healthcheck", {})
    for key in ("interval", "timeout", "startPeriod"):
        check[key] = short_duration(check.get(key) or "0s")
    if "restartPolicy" in out:
        for key in ("delay", "window"):
            out["restartPolicy"][key] = short_duration(out["restartPolicy"].get(key) or "0s")
    # A network given by name reads back with no id (`name` is never read back), so a
    # program that names it replaces the service on every up; only `id` is copied.
    out["networksAdvanceds"] = [
        {**({"id": n["id"]} if n.get("id") else {}), "driverOpts": n.get("driverOpts") or [],
         **({"aliases": n["aliases"]} if n.get("aliases") else {})}
        for n in out.get("networksAdvanceds") or []]
    # SS:274: a tmpfs mount's mode reads back as Mode.Perm(), the permission bits only.
    for mount in spec.get("mounts") or []:
        tmpfs = mount.get("tmpfsOptions") or {}
        if tmpfs.get("mode"):
            tmpfs["mode"] = int(tmpfs["mode"]) & 0o777
    return out


def read_back_update_config(value: dict[str, Any]) -> dict[str, Any]:
    """SS:78-93: durations by shortDur, maxFailureRatio as FormatFloat(x, 'f', 1) (its
    DiffSuppressFunc compares the floats, V:76-90)."""
    out = dict(value)
    for key in ("delay", "monitor"):
        if key in out:
            out[key] = short_duration(out[key])
    if "maxFailureRatio" in out:
        out["maxFailureRatio"] = f"{float(out['maxFailureRatio']):.1f}"
    return out


# --- the tables -------------------------------------------------------------------------

_CONTAINER_PROPS = (
    Prop("name", "name", Change.REPLACE, "C:50-55; CF:828", applier="create name"),
    Prop("image", "image", Change.REPLACE, "C:141-146; CF:837-845 (sha256: ids read back "
         "as the container's image id)", applier="create image (by id)"),
    Prop("entrypoints", "entrypoint", Change.REPLACE, "C:172-179; CF:850",
         applier="create entrypoint"),
    Prop("command", "command", Change.REPLACE, "C:163-170; CF:849", applier="create command"),
    Prop("envs", "env", Change.REPLACE, "C:590-598; CF:893-898 (never read back)",
         applier="create environment"),
    Prop("mounts", "mounts", Change.REPLACE, "C:328-433; CF:166-248, 881",
         applier="create HostConfig.Mounts"),
    Prop("networksAdvanced", "networks_advanced", Change.REPLACE,
         "C:909-972; CF:462-501 (disconnect bridge, connect each, aliases on connect)",
         applier="disconnect bridge, connect each network with its aliases"),
    Prop("ports", "ports", Change.REPLACE, "C:487-535 (ip default 0.0.0.0, protocol tcp); "
         "CF:797-806", read_back=read_back_ports,
         nested_defaults={"ip": "0.0.0.0", "protocol": "tcp"},
         applier="create PortBindings"),
    Prop("healthcheck", "healthcheck", Change.STATE,
         "C:1045-1096 (durations default 0s, retries 0; not ForceNew, not in Update); "
         "CF:960-971", read_back=read_back_healthcheck,
         nested_defaults={"interval": "0s", "timeout": "0s", "startPeriod": "0s",
                          "startInterval": "0s", "retries": 0},
         applier="create Healthcheck; a change is saved only (replaceOnChanges replaces)"),
    Prop("labels", "labels", Change.REPLACE, "C:833-840; helpers labelSchema (ForceNew); "
         "never read back", applier="create labels"),
    Prop("stopTimeout", "stop_timeout", Change.REPLACE, "C:321-327; CF:54-58, 978",
         applier="create StopTimeout"),
    Prop("destroyGraceSeconds", "destroy_grace_seconds", Change.STATE,
         "C:827-831; CF:1085-1098 (stop with this timeout on delete, 0/unset = kill)",
         applier="stop timeout on delete and replace"),
    Prop("wait", "wait", Change.STATE, "C:79-84; CF:590-628 (create only)", default=False,
         applier="wait for healthy after create"),
    Prop("waitTimeout", "wait_timeout", Change.STATE, "C:86-91", default=60,
         applier="how long to wait for healthy"),
    Prop("user", "user", Change.REPLACE, "C:181-194; CF:851", applier="create User"),
    Prop("capabilities", "capabilities", Change.REPLACE, "C:262-290; CF:870-878",
         applier="create CapAdd/CapDrop"),
    Prop("privileged", "privileged", Change.REPLACE, "C:656-661; CF:900",
         applier="create Privileged"),
    Prop("readOnly", "read_only", Change.REPLACE, "C:64-70; CF:830", default=False,
         applier="create ReadonlyRootfs"),
    Prop("tmpfs", "tmpfs", Change.STATE, "C:482-486 (not ForceNew, not in Update); CF:883",
         applier="create Tmpfs; a change is saved only (replaceOnChanges replaces)"),
    Prop("memory", "memory", Change.UPDATE, "C:842-847; CF:932, 1016-1072",
         applier="docker update --memory"),
    Prop("memorySwap", "memory_swap", Change.UPDATE, "C:856-861; CF:940-944, 1060-1067",
         applier="docker update --memory-swap"),
    Prop("memoryReservation", "memory_reservation", Change.UPDATE, "C (default 0); "
         "CF:1016-1019", default=0, applier="create MemoryReservation; docker update "
         "--memory-reservation"),
    Prop("tty", "tty", Change.REPLACE, "C (default false)", default=False,
         applier="must stay false (refused otherwise)"),
    Prop("stdinOpen", "stdin_open", Change.REPLACE, "C (default false)", default=False,
         applier="must stay false (refused otherwise)"),
    Prop("cpus", "cpus", Change.REPLACE, "C:1158-1163; CF:946-948; H:131-149",
         read_back=read_back_cpus, applier="create NanoCpus"),
    Prop("cpuShares", "cpu_shares", Change.UPDATE, "C:872-877; CF:949, 1016-1072",
         applier="docker update --cpu-shares"),
    Prop("cpuSet", "cpu_set", Change.UPDATE, "C:879-884; CF:950, 1016-1072",
         applier="docker update --cpuset-cpus"),
    Prop("securityOpts", "security_opts", Change.REPLACE, "C:291-299; CF:854",
         applier="create SecurityOpt"),
    Prop("restart", "restart", Change.UPDATE, "C:230-236 (default \"no\"); CF:1016-1072",
         default="no", applier="docker update --restart"),
    Prop("maxRetryCount", "max_retry_count", Change.UPDATE, "C:238-242; CF:1016-1072",
         applier="docker update --restart on-failure:N"),
    Prop("init", "init", Change.STATE, "C:1126-1131 (not ForceNew, not in Update); "
         "CF:447-448 (unset is sent as false)", applier="create Init; a change is saved "
         "only (replaceOnChanges replaces)"),
    Prop("logDriver", "log_driver", Change.REPLACE, "C:886-892 (no default: the daemon's)",
         applier="create LogConfig.Type"),
    Prop("logOpts", "log_opts", Change.REPLACE, "C:894-899; CF:983-989",
         applier="create LogConfig.Config"),
    Prop("networkMode", "network_mode", Change.REPLACE, "C:901-907 (default \"bridge\", no "
         "DiffSuppressFunc); CF:391-399", default="bridge",
         applier="create NetworkMode, then networksAdvanced as the provider does"),
    Prop("pidMode", "pid_mode", Change.REPLACE, "C:974-979", applier="create PidMode"),
    Prop("devices", "devices", Change.REPLACE, "C (devices: host_path, container_path, "
         "permissions; ForceNew)", applier="create Devices"),
    Prop("ipcMode", "ipc_mode", Change.REPLACE, "C:1111-1117", applier="create IpcMode"),
    Prop("usernsMode", "userns_mode", Change.REPLACE, "C:980-985",
         applier="create UsernsMode"),
    Prop("mustRun", "must_run", Change.UPDATE, "C:122-127 (default true); CF:812-824 (a "
         "stopped container reads back false), 997-1013 (Update starts it)", default=True,
         applier="start a stopped container in place"),
    Prop("start", "start", Change.STATE, "C:72-77 (default true; create only)", default=True,
         applier="start after create"),
    Prop("rm", "rm", Change.STATE, "C:57-62 (default false)", default=False,
         applier="must stay false (refused otherwise)"),
    Prop("attach", "attach", Change.STATE, "C:93-98 (default false)", default=False,
         applier="must stay false (refused otherwise)"),
    Prop("logs", "logs", Change.STATE, "C:100-105 (default false)", default=False,
         applier="must stay false (refused otherwise)"),
    Prop("removeVolumes", "remove_volumes", Change.STATE, "C:256-261 (default true); "
         "CF:1100-1103", default=True, applier="remove anonymous volumes on delete"),
    Prop("containerReadRefreshTimeoutMilliseconds",
         "container_read_refresh_timeout_milliseconds", Change.STATE,
         "C:1164-1175 (default 15000)", default=15000, applier="not used (reads are "
         "immediate)"),
)

_NETWORK_PROPS = (
    Prop("name", "name", Change.REPLACE, "N:25-143 (no Update at all; network.go:17-19)",
         applier="create name"),
    Prop("driver", "driver", Change.REPLACE, "N (Optional+Computed: the daemon's bridge)",
         applier="create driver"),
    Prop("labels", "labels", Change.REPLACE, "N labelSchema (ForceNew)",
         applier="create labels"),
    Prop("ipamDriver", "ipam_driver", Change.REPLACE, "network.go:85-91 (default "
         "\"default\")", default="default", applier="create IPAM driver"),
    Prop("attachable", "attachable", Change.REPLACE, "N:64-69; NF:45-47 (sent only when "
         "true)", applier="create Attachable (the swarm stack's overlay)"),
)

_UPDATE_DEFAULTS = {"parallelism": 1, "delay": "0s", "failureAction": "pause",
                    "monitor": "5s", "maxFailureRatio": "0.0", "order": "stop-first"}

_SERVICE_PROPS = (
    Prop("name", "name", Change.REPLACE, "S:54-59 (ForceNew); R:404 + B schema.go:195-246 "
         "(an explicit name makes a replacement delete the old service first)",
         applier="create Spec.Name"),
    Prop("labels", "labels", Change.UPDATE, "S:60-66; H:57-77 (labelSchemaUpdatable, a "
         "set, Optional+Computed)", set_paths=("",), computed_paths=("",),
         applier="ServiceUpdate with the whole spec"),
    Prop("auth", "auth", Change.REPLACE, "S:22-53 (never read back)",
         applier="must stay unset (refused otherwise)"),
    Prop("taskSpec", "task_spec", Change.UPDATE,
         "S:68-760; SF:169-225 (Update rebuilds the whole spec: SS:589-633); read back "
         "SS:19-230", read_back=read_back_task_spec,
         nested_defaults={"containerSpec": {"isolation": "default"}},
         replace_paths=("containerSpec.labels", "containerSpec.hosts", "containerSpec.sysctl",
                        "networksAdvanceds"),
         set_paths=("containerSpec.mounts", "containerSpec.secrets", "containerSpec.configs",
                    "containerSpec.labels", "placement.constraints", "networksAdvanceds",
                    "networksAdvanceds[].aliases", "networksAdvanceds[].driverOpts"),
         computed_paths=("containerSpec.stopGracePeriod", "containerSpec.healthcheck",
                         "containerSpec.dnsConfig", "containerSpec.init", "resources",
                         "restartPolicy", "placement", "forceUpdate", "runtime"),
         applier="create/update the service with the whole spec (services.spec)"),
    Prop("mode", "mode", Change.UPDATE, "S:762-799 (ForceNew only on the block's count; "
         "replicas update in place); SS:51-76 (Read adds global: false)", nested_defaults={},
         nested_diff=True, computed_paths=("", "replicated"),
         applier="ServiceUpdate (Mode.Replicated.Replicas)"),
    Prop("updateConfig", "update_config", Change.UPDATE, "S:800-852; SS:78-93",
         read_back=read_back_update_config, nested_defaults=_UPDATE_DEFAULTS,
         nested_diff=True,  # field by field: maxFailureRatio compares as a number
         applier="ServiceUpdate (UpdateConfig)"),
    Prop("rollbackConfig", "rollback_config", Change.UPDATE, "S:853-905; SS:78-93",
         read_back=read_back_update_config, nested_defaults=_UPDATE_DEFAULTS,
         nested_diff=True,  # field by field: maxFailureRatio compares as a number
         applier="ServiceUpdate (RollbackConfig)"),
    Prop("endpointSpec", "endpoint_spec", Change.UPDATE, "S:906-962 (ports: protocol tcp, "
         "publishMode ingress); SF:153-163; SS:95-113, 568-580 (Read adds ports: [])",
         nested_diff=True, computed_paths=("", "mode", "ports[].publishedPort"),
         applier="ServiceUpdate (EndpointSpec)"),
    Prop("convergeConfig", "converge_config", Change.STATE, "S:963-987 (never sent, never "
         "read back); SF:52-77 (create waits for the replicas running, deletes the service "
         "if they never do), SF:200-222 (update waits; a rollback or pause is an error)",
         nested_defaults={"delay": "7s", "timeout": "3m"},
         applier="wait for convergence after create and update"),
)

_SECRET_PROPS = (
    Prop("name", "name", Change.REPLACE, "SEC:23-28; R:404 (auto-named <name>-<7 chars> "
         "when unset: a replacement is then created before the old one is deleted)",
         autoname=True, applier="create name (auto-named as the bridge does)"),
    Prop("data", "data", Change.REPLACE, "SEC:30-37 (standard base64; never read back, "
         "SEC:137-139; a secret, PS:5283-5310)", applier="create with the decoded bytes"),
    Prop("labels", "labels", Change.REPLACE, "SEC:39-45 (never read back)",
         applier="create labels"),
)

_VOLUME_PROPS = (
    Prop("name", "name", Change.REPLACE, "V:41-47", applier="create name"),
    Prop("labels", "labels", Change.REPLACE, "V:48-54 (labelSchema, ForceNew)",
         applier="create labels"),
)

_REMOTE_IMAGE_PROPS = (
    Prop("name", "name", Change.REPLACE, "I image.go:30-97; I funcs:343-378 (a local "
         "image is used without pulling)", applier="the local image's id; pulled only "
         "if absent"),
    Prop("keepLocally", "keep_locally", Change.STATE, "I image.go:30-97; I funcs:150-220 "
         "(true: destroy leaves the image)", applier="never removes images"),
    Prop("platform", "platform", Change.REPLACE, "I image.go (default \"\")", default="",
         applier="must stay empty"),
)

_COMMAND_PROPS = (
    Prop("create", "create", Change.REPLACE, "PC: without an update command, any change "
         "runs create again (a replacement)", applier="run with /bin/sh -c"),
    Prop("triggers", "triggers", Change.REPLACE, "PC: a change replaces (no update "
         "command)", applier="a changed trigger (a replaced container) runs create again"),
)

PROPS: dict[str, dict[str, Prop]] = {
    CONTAINER: {p.name: p for p in _CONTAINER_PROPS},
    SERVICE: {p.name: p for p in _SERVICE_PROPS},
    SECRET: {p.name: p for p in _SECRET_PROPS},
    NETWORK: {p.name: p for p in _NETWORK_PROPS},
    VOLUME: {p.name: p for p in _VOLUME_PROPS},
    REMOTE_IMAGE: {p.name: p for p in _REMOTE_IMAGE_PROPS},
    COMMAND: {p.name: p for p in _COMMAND_PROPS},
}
# Container is DeleteBeforeReplace (R:114): the old container goes first, so the
# replacement can take the same name and port.
DELETE_BEFORE_REPLACE = {CONTAINER}


def props(resource_type: str) -> dict[str, Prop]:
    try:
        return PROPS[resource_type]
    except KeyError:
        raise UnknownProperty(f"resource type {resource_type} is not modelled; extend "
                              "lucia_deploy/provider.py from the provider's source") from None


# Fields of nested blocks the stand-in carries out; any other is refused, never dropped.
NESTED_KNOWN: dict[tuple[str, str], set[str]] = {
    (CONTAINER, "mounts"): {"target", "type", "source", "readOnly", "bindOptions"},
    (CONTAINER, "devices"): {"hostPath", "containerPath", "permissions"},
    (CONTAINER, "networksAdvanced"): {"name", "aliases"},
    (CONTAINER, "ports"): {"internal", "external", "ip", "protocol"},
    (CONTAINER, "healthcheck"): {"tests", "interval", "timeout", "retries", "startPeriod",
                                 "startInterval"},
    (CONTAINER, "capabilities"): {"drops", "adds"},
    (CONTAINER, "labels"): {"label", "value"},
    (NETWORK, "labels"): {"label", "value"},
    (VOLUME, "labels"): {"label", "value"},
}


# The nested fields of a Service the applier carries out (lucia_deploy/services.py spec);
# any other is refused, never dropped. Maps whose keys are free: env, log options.
SERVICE_KNOWN = frozenset({
    "labels[].label", "labels[].value", "mode.replicated.replicas",
    *(f"{block}.{key}" for block in ("updateConfig", "rollbackConfig") for key in
      ("parallelism", "delay", "failureAction", "monitor", "maxFailureRatio", "order")),
    "endpointSpec.mode", "convergeConfig.delay", "convergeConfig.timeout",
    *(f"taskSpec.containerSpec.{key}" for key in (
        "image", "commands", "args", "env", "user", "stopGracePeriod", "readOnly", "init",
        "capDrops", "capAdds", "isolation", "labels[].label", "labels[].value",
        "mounts[].target", "mounts[].source", "mounts[].type", "mounts[].readOnly",
        "mounts[].tmpfsOptions.sizeBytes", "mounts[].tmpfsOptions.mode",
        "secrets[].secretId", "secrets[].secretName", "secrets[].fileName",
        "secrets[].fileUid", "secrets[].fileGid", "secrets[].fileMode",
        "healthcheck.tests", "healthcheck.interval", "healthcheck.timeout",
        "healthcheck.startPeriod", "healthcheck.retries")),
    "taskSpec.resources.limits.nanoCpus", "taskSpec.resources.limits.memoryBytes",
    *(f"taskSpec.restartPolicy.{key}" for key in ("condition", "delay", "maxAttempts",
                                                   "window")),
    "taskSpec.placement.constraints", "taskSpec.logDriver.name",
    "taskSpec.logDriver.options", "taskSpec.networksAdvanceds[].id",
    "taskSpec.networksAdvanceds[].aliases", "taskSpec.forceUpdate",
})
FREE_MAPS = frozenset({"taskSpec.containerSpec.env", "taskSpec.logDriver.options"})


def unknown_paths(value: Any, known: frozenset[str], path: str = "") -> list[str]:
    """Nested fields of `value` that `known` does not list (maps in FREE_MAPS are whole)."""
    if path in FREE_MAPS or path in known:
        return []
    if isinstance(value, list):
        return [p for item in value for p in unknown_paths(item, known, f"{path}[]")]
    if isinstance(value, dict):
        return [p for key, item in value.items()
                for p in unknown_paths(item, known, f"{path}.{key}" if path else key)]
    return [path]


def check(resource_type: str, inputs: dict[str, Any], logical_name: str = "",
          prior: dict[str, Any] | None = None,
          as_stored: Callable[[dict[str, Any]], dict[str, Any]] = lambda v: v,
          ) -> dict[str, Any]:
    """The provider's Check: the inputs with schema defaults filled, top level and in
    nested blocks. Unknown properties, top level or nested, are refused.

    An auto-named property left unset (B autonaming) keeps the name in `prior` (the
    state's, which the engine passes as the old inputs) unless the resource is being
    replaced; then the engine checks again without olds and a new name is drawn, so the
    replacement can be created before the old one is deleted."""
    table = props(resource_type)
    unknown = sorted(set(inputs) - set(table))
    if unknown:
        raise UnknownProperty(f"{resource_type}: properties {unknown} are not modelled; "
                              "refusing to drop them")
    for (type_, name), known in NESTED_KNOWN.items():
        value = inputs.get(name) if type_ == resource_type else None
        for item in value if isinstance(value, list) else [value] if value else []:
            extra = sorted(set(item) - known) if isinstance(item, dict) else []
            if extra:
                raise UnknownProperty(f"{resource_type}: {name} fields {extra} are not "
                                      "modelled; refusing to drop them")
    if resource_type == SERVICE:
        extra = [p for p in unknown_paths(inputs, SERVICE_KNOWN) if p.split(".")[0] != "name"]
        if extra:
            raise UnknownProperty(f"{resource_type}: fields {extra} are not modelled; "
                                  "refusing to drop them")
    checked = copy.deepcopy(inputs)
    for prop in table.values():
        if prop.name not in checked and prop.has_default and filled_by_check(prop.default):
            checked[prop.name] = copy.deepcopy(prop.default)
        value = checked.get(prop.name)
        if prop.nested_defaults and value is not None:
            for key, default in prop.nested_defaults.items():
                _fill(value, key, default)
    for prop in table.values():
        if prop.autoname and prop.name not in checked:
            kept = (prior or {}).get(prop.name)
            if prior and kept and diff(resource_type, {**prior, prop.name: kept}, as_stored(
                    {**checked, prop.name: kept})).kind == "unchanged":
                checked[prop.name] = kept
            else:
                checked[prop.name] = f"{logical_name}-{secrets.token_hex(4)[:7]}"
    return checked


def filled_by_check(default: Any) -> bool:
    """B v3.127.0+ (commit 6e33544f, pulumi-terraform-bridge#2618; pulumi-docker v5.1.0
    pins v3.133.0): Check no longer writes an omitted Terraform default that is falsy
    (false, 0, ""), so the provider sees the field as omitted, as Terraform would; truthy
    defaults ("bridge", true, 60, "0s") are still filled."""
    return isinstance(default, dict) or default not in (False, 0, "")


def _fill(value: Any, path: str, default: Any) -> None:
    """Fill a default at a path inside a block the program gave ("a.b", "a[].b": in each
    item of list a); a block left out is not created. A plain key applies to the value,
    or to each item when the value is a list."""
    if isinstance(value, list):
        for item in value:
            _fill(item, path, default)
        return
    if not isinstance(value, dict):
        return
    head, _, rest = path.partition(".")
    key = head.removesuffix("[]")
    if not rest:
        if isinstance(default, dict) and isinstance(value.get(key), dict):
            for sub, sub_default in default.items():
                _fill(value[key], sub, sub_default)
        elif key not in value and filled_by_check(default):
            value[key] = copy.deepcopy(default)
        return
    if key in value:
        _fill(value[key], rest, default)


def read_back(resource_type: str, checked: dict[str, Any]) -> dict[str, Any]:
    """What the provider's Read leaves in the state for these checked inputs."""
    table = props(resource_type)
    state = copy.deepcopy(checked)
    for name, value in checked.items():
        prop = table.get(name)
        if prop and prop.read_back and value is not None and not _unknown(value):
            state[name] = prop.read_back(value)
    return state


UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-value sentinel


def _unknown(value: Any) -> bool:
    return isinstance(value, str) and value == UNKNOWN


@dataclass(frozen=True)
class Diff:
    kind: str                   # "unchanged" | "update" | "replace"
    changed: dict[str, Change]  # property -> what its change does

    def describe(self) -> str:
        return ", ".join(f"{k} ({v})" for k, v in sorted(self.changed.items()))


def diff(resource_type: str, state: dict[str, Any], checked: dict[str, Any],
         replace_on_changes: tuple[str, ...] = ()) -> Diff:
    """The provider's Diff: new checked inputs against the state Read left. Any ForceNew
    change (or a property in replaceOnChanges) replaces; otherwise an Update-handled or
    state-only change is an update (the engine saves the new state either way).

    A nested block (a Service's taskSpec) is compared field by field as the SDK does: an
    unset field equals a zero value in the state, sets are compared without order, and a
    change under one of its replace paths replaces."""
    table = props(resource_type)
    changed: dict[str, Change] = {}
    for name in sorted(set(state) | set(checked)):
        if name not in table:
            raise UnknownProperty(f"{resource_type}: property {name} is not modelled")
        prop = table[name]
        if "" in prop.computed_paths and _zero(checked.get(name)):
            continue  # the SDK cannot tell an empty list from an unset one
        if prop.nested_diff or prop.replace_paths or prop.set_paths:
            paths = changed_paths(state.get(name), checked.get(name), "", prop.set_paths,
                                  prop.computed_paths)
            if not paths:
                continue
            replaces = any(p == r or p.startswith((f"{r}.", f"{r}[")) for p in paths
                           for r in prop.replace_paths)
            changed[name] = Change.REPLACE if replaces or name in replace_on_changes \
                else prop.change
            continue
        # The SDK reads an unset property as its zero value ("", 0, false, empty).
        if state.get(name) == checked.get(name) or (
                _zero(state.get(name)) and _zero(checked.get(name))):
            continue
        changed[name] = Change.REPLACE if name in replace_on_changes else prop.change
    if not changed:
        return Diff("unchanged", {})
    kind = "replace" if Change.REPLACE in changed.values() else "update"
    return Diff(kind, changed)


def _zero(value: Any) -> bool:
    return value in (None, "", 0, False, [], {})


def _empty(value: Any) -> bool:
    """Zero, or a block whose every field is: kreuzwerker's TestAccDockerService_fullSpec
    (resource_docker_service_test.go:544-806) sets `resources.limits` alone against an
    engine that reads back `Reservations: {}` (so Read writes a reservation block of
    zeros, SS:393-418) and expects an empty plan after apply."""
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    return _zero(value)


def _canonical(value: Any) -> str:
    """A set item as the SDK hashes it: zero-valued fields are as good as unset."""
    def strip(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: strip(v) for k, v in item.items() if not _zero(v)}
        if isinstance(item, list):
            return [strip(v) for v in item]
        if isinstance(item, float) and item.is_integer():
            return int(item)  # the engine's RPC carries every number as a float
        return item
    return json.dumps(strip(value), sort_keys=True)


# Leaves with a DiffSuppressFunc that compares them as numbers (V:76-90, S:841, 894).
FLOAT_LEAVES = frozenset({"maxFailureRatio"})


def changed_paths(old: Any, new: Any, path: str, set_paths: tuple[str, ...],
                  computed_paths: tuple[str, ...] = ()) -> list[str]:
    """The dotted paths where two nested values differ (SDK diffList/diffString: an unset
    new value equals a zero old one; a set's items compare without order; an unset
    Optional+Computed value takes whatever the state holds)."""
    if _empty(new) and _empty(old):
        return []
    if new is None and path in computed_paths:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            found += changed_paths(old.get(key), new.get(key),
                                   f"{path}.{key}" if path else key, set_paths,
                                   computed_paths)
        return found
    if isinstance(old, list) and isinstance(new, list):
        if path in set_paths:  # a set: the same items in any order
            items = sorted(_canonical(i) for i in old)
            return [] if items == sorted(_canonical(i) for i in new) else [path]
        if len(old) != len(new):
            return [path]
        found = []
        for item_old, item_new in zip(old, new, strict=True):
            found += changed_paths(item_old, item_new, f"{path}[]", set_paths,
                                   computed_paths)
        return found
    if path.rsplit(".", 1)[-1] in FLOAT_LEAVES and old is not None and new is not None:
        return [] if float(old) == float(new) else [path]
    return [] if old == new else [path]

