"""The provider's Swarm service and secret operations on the engine, as pulumi-docker
carries them out (kreuzwerker v4.5.0 resource_docker_service*.go and
resource_docker_secret.go; lucia_deploy/provider.py cites the rules): the whole spec
built from the inputs on create and on every update, convergence waited for, and removal
that waits for the tasks to go. Also the engine's swarm itself: started when a stack needs
one, and left again only if lucia-deploy started it and nothing else runs on the engine."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
from typing import Any

import docker
import docker.errors
import docker.models.services
import docker.types

from lucia_deploy import provider, stacks
from lucia_deploy.containers import ApplyError, Unhealthy, labels_of
from lucia_deploy.progress import say
from lucia_deploy.waiting import WaitTimeout, wait_until
from lucia_stack.swarm import PIDS_LIMIT_LABEL, pids_limit_argv

SWARM_MARKER = stacks.STATE / "swarm-use.json"


def swarm_state(client: docker.DockerClient) -> str:
    """`active`, `inactive`, `pending`, `error` or `locked` (docker info)."""
    return str((client.info().get("Swarm") or {}).get("LocalNodeState", "inactive"))


def stack_services(client: docker.DockerClient, project: str,
                   stack: str) -> list[docker.models.services.Service]:
    """The stack's Swarm services (none when the engine is in no swarm)."""
    if swarm_state(client) != "active":
        return []
    return client.services.list(filters={"label": [f"io.lucia.project={project}",
                                                   f"io.lucia.stack={stack}"]})


def ensure_swarm(client: docker.DockerClient, stack: str) -> None:
    """A single-node swarm on this engine unless it is in one already. Which stacks needed
    the swarm, and whether it was started here, is recorded: for CIS 5.1's check
    (checklists/cis-docker-manual.md) and for `leave_swarm_if_unneeded`."""
    state = swarm_state(client)
    started = ""
    if state == "active":
        if not (client.info().get("Swarm") or {}).get("ControlAvailable"):
            raise ApplyError("this engine is a swarm worker; deploy the swarm stack from a "
                             "manager node")
    elif state != "inactive":
        raise ApplyError(f"this engine's swarm is {state}; fix it (docker info) first")
    else:
        say("this engine is not in a swarm: starting a single-node swarm (docker swarm "
            "init); the other stacks' containers are not affected")
        try:
            client.swarm.init()
        except docker.errors.APIError as exc:
            raise ApplyError(f"docker swarm init failed: {exc.explanation or exc}; with "
                             "several network interfaces run `docker swarm init "
                             "--advertise-addr <ip>` yourself, then `make up STACK=swarm` "
                             "again") from None
        started = _cluster_id(client)
    record_swarm_use(stack, started)


def _cluster_id(client: docker.DockerClient) -> str:
    """The swarm's own id: a swarm left and started again by someone else has another."""
    return str(((client.info().get("Swarm") or {}).get("Cluster") or {}).get("ID") or "")


def _swarm_use() -> dict[str, Any]:
    """.state/swarm-use.json: the stacks that needed this engine's swarm, and the id of
    the swarm lucia-deploy started, if it did (empty when there is no readable record)."""
    try:
        use: dict[str, Any] = json.loads(SWARM_MARKER.read_text())
    except (OSError, json.JSONDecodeError):
        use = {}
    use.setdefault("needed_by", {})
    use.setdefault("started_swarm_id", "")
    use.pop("started_by_lucia_deploy", None)  # a record from before the id was kept
    return use


def _save_swarm_use(use: dict[str, Any]) -> None:
    SWARM_MARKER.parent.mkdir(parents=True, exist_ok=True)
    SWARM_MARKER.write_text(json.dumps(use, indent=2, sort_keys=True))


def record_swarm_use(stack: str, started_swarm_id: str) -> None:
    use = _swarm_use()
    if started_swarm_id:
        use["started_swarm_id"] = started_swarm_id
    use["needed_by"][stack] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _save_swarm_use(use)


def forget_swarm_use(stack: str) -> bool:
    """`down`: the stack no longer needs the swarm. True when it was recorded."""
    use = _swarm_use()
    if use["needed_by"].pop(stack, None) is None:
        return False
    _save_swarm_use(use)
    return True


def leave_swarm_if_unneeded(client: docker.DockerClient) -> str | None:
    """After `down`: leave the swarm when lucia-deploy started this very swarm (its id is
    recorded), no stack needs it any more (CIS 5.1: swarm mode off unless needed), it is
    this one node's alone, and nothing runs on the engine. The last condition is why it is
    safe: on Docker 20.10 `docker swarm leave` breaks the embedded DNS of every running
    container on a user-defined network until it is recreated (docs/swarm.md). A swarm
    other nodes joined is a cluster the operator built on it: never left from here.
    Returns what was done, or why not; None when there is nothing to say."""
    use = _swarm_use()
    started = use["started_swarm_id"]
    if not started:
        return None
    info = client.info().get("Swarm") or {}
    if info.get("LocalNodeState") != "active" or (info.get("Cluster") or {}).get("ID") != started:
        use["started_swarm_id"] = ""  # left or replaced since: not lucia-deploy's now
        _save_swarm_use(use)
        return None
    if use["needed_by"]:
        return (f"the engine stays in the swarm lucia-deploy started: still recorded as "
                f"needed by {', '.join(sorted(use['needed_by']))} ({SWARM_MARKER})")
    if int(info.get("Nodes") or 1) != 1 or not info.get("ControlAvailable"):
        return (f"the engine stays in the swarm lucia-deploy started: it has "
                f"{info.get('Nodes')} nodes now, a cluster to leave by hand if at all")
    others = [s.name for s in client.services.list()]
    running = [c.name for c in client.containers.list()]
    if others or running:
        what = ", ".join(others + running)
        return (f"the engine stays in the swarm lucia-deploy started: {what} still "
                f"run{'s' if len(others + running) == 1 else ''} on it (leaving now would "
                "break running containers' DNS on Docker 20.10); once nothing runs, "
                "`docker swarm leave --force` (CIS 5.1)")
    client.swarm.leave(force=True)
    use["started_swarm_id"] = ""
    _save_swarm_use(use)
    return ("left the swarm lucia-deploy started: no stack needs it and no container runs "
            "(CIS 5.1)")


def _nanos(text: Any) -> int:
    return provider.parse_duration(str(text)) if text not in (None, "") else 0


def _update_config(config: dict[str, Any] | None,
                   kind: type[docker.types.UpdateConfig]) -> Any:
    if not config:
        return None
    return kind(parallelism=int(config.get("parallelism", 1)),
                delay=_nanos(config.get("delay")),
                failure_action=config.get("failureAction", "pause"),
                monitor=_nanos(config.get("monitor")),
                max_failure_ratio=float(config.get("maxFailureRatio") or 0),
                order=config.get("order", "stop-first"))


def spec(inputs: dict[str, Any]) -> dict[str, Any]:
    """The ServiceSpec the provider builds from the whole of its inputs (createServiceSpec),
    as docker-py keyword arguments for create_service / update_service."""
    task = inputs["taskSpec"]
    container = task["containerSpec"]
    check = container.get("healthcheck")
    limits = (task.get("resources") or {}).get("limits") or {}
    restart = task.get("restartPolicy") or {}
    log = task.get("logDriver")
    mounts = []
    for m in container.get("mounts") or []:
        tmpfs = m.get("tmpfsOptions") or {}
        mounts.append(docker.types.Mount(
            target=m["target"], source=m.get("source"), type=m["type"],
            read_only=bool(m.get("readOnly")),
            tmpfs_size=int(tmpfs["sizeBytes"]) if tmpfs.get("sizeBytes") else None,
            tmpfs_mode=int(tmpfs["mode"]) if tmpfs.get("mode") else None))
    container_spec = docker.types.ContainerSpec(
        image=container["image"],
        command=container.get("commands") or None,
        args=container.get("args") or None,
        env=[f"{k}={v}" for k, v in sorted((container.get("env") or {}).items())] or None,
        user=container.get("user") or None,
        labels=labels_of(container) or None,
        mounts=mounts or None,
        stop_grace_period=_nanos(container.get("stopGracePeriod")) or None,
        secrets=[docker.types.SecretReference(
            secret_id=s["secretId"], secret_name=s["secretName"],
            filename=s.get("fileName"), uid=s.get("fileUid"), gid=s.get("fileGid"),
            mode=int(s.get("fileMode", 0o444))) for s in container.get("secrets") or []]
        or None,
        read_only=bool(container.get("readOnly")),
        healthcheck=docker.types.Healthcheck(
            test=check["tests"], interval=_nanos(check.get("interval")),
            timeout=_nanos(check.get("timeout")), retries=int(check.get("retries", 0)),
            start_period=_nanos(check.get("startPeriod"))) if check else None,
        init=container.get("init"),
        cap_drop=container.get("capDrops") or None,
        cap_add=container.get("capAdds") or None,
    )
    # The provider sends only these two limits (SS:1012-1020): never a PIDs limit.
    resources = docker.types.Resources(
        cpu_limit=int(limits.get("nanoCpus") or 0) or None,
        mem_limit=int(limits.get("memoryBytes") or 0) or None)
    task_template = docker.types.TaskTemplate(
        container_spec=container_spec, resources=resources,
        restart_policy=docker.types.RestartPolicy(
            condition=restart.get("condition", "any"), delay=_nanos(restart.get("delay")),
            max_attempts=int(restart.get("maxAttempts") or 0),
            window=_nanos(restart.get("window"))) if restart else None,
        placement=docker.types.Placement(
            constraints=(task.get("placement") or {}).get("constraints") or None)
        if task.get("placement") else None,
        log_driver=docker.types.DriverConfig(log["name"], dict(log.get("options") or {}))
        if log else None,
        networks=[docker.types.NetworkAttachmentConfig(n["id"], aliases=n.get("aliases"))
                  for n in task.get("networksAdvanceds") or []] or None,
        force_update=int(task.get("forceUpdate") or 0) or None,
    )
    replicated = ((inputs.get("mode") or {}).get("replicated") or {})
    endpoint = inputs.get("endpointSpec") or {}
    return {
        "task_template": task_template,
        "name": inputs["name"],
        "labels": labels_of(inputs) or None,
        "mode": docker.types.ServiceMode("replicated", int(replicated.get("replicas", 1))),
        "update_config": _update_config(inputs.get("updateConfig"),
                                        docker.types.UpdateConfig),
        "rollback_config": _update_config(inputs.get("rollbackConfig"),
                                          docker.types.RollbackConfig),
        "endpoint_spec": docker.types.EndpointSpec(mode=endpoint.get("mode", "vip")),
    }


def create(client: docker.DockerClient, inputs: dict[str, Any]) -> str:
    """SF:40-80: create, then wait for convergence; a service that does not converge is
    deleted again (SF:66-71) and the create fails, so nothing half-made is left."""
    response = client.api.create_service(**spec(inputs))
    service_id: str = response["ID"]
    say(f"{inputs['name']}: service created")
    try:
        converge(client, service_id, inputs, first_poll=_nanos(
            (inputs.get("convergeConfig") or {}).get("delay") or "7s") / 1e9)
    except ApplyError:
        remove(client, service_id)
        raise
    return service_id


def update(client: docker.DockerClient, service_id: str, inputs: dict[str, Any]) -> None:
    """The provider's Update sends the whole spec it builds, at the service's current
    version: a setting made outside it (a PIDs limit) is dropped, which is why the
    program sets that again after every update."""
    version = client.api.inspect_service(service_id)["Version"]["Index"]
    client.api.update_service(service_id, version, **spec(inputs))
    say(f"{inputs['name']}: service updated (a rolling update of its tasks)")
    # SF:210: the update's wait polls first after a fixed 7 s: Swarm clears UpdateStatus
    # when it takes the new spec, so an earlier poll would see the old tasks running.
    converge(client, service_id, inputs, first_poll=UPDATE_FIRST_POLL_SECONDS)


UPDATE_FIRST_POLL_SECONDS = 7.0


def restore_pids_limits(client: docker.DockerClient, project: str, stack: str) -> list[str]:
    """After every `up` (both paths): each of the stack's services has the PIDs limit its
    `io.lucia.pids-limit` label asks for (CIS 5.29), set again where it does not.

    The program's command.local sets the limit after each update it causes, triggered by
    the service's outputs. An update that undoes a change made by hand leaves those
    outputs as they were (Read runs after Update, SF:224, and never reads the limit,
    SS:408-416), so the command does not run, and the Update's spec, which has no limit,
    has dropped it. Returns the services it set."""
    fixed = []
    for service in stack_services(client, project, stack):
        spec = service.attrs["Spec"]
        wanted = (spec.get("Labels") or {}).get(PIDS_LIMIT_LABEL)
        if wanted is None:
            continue
        if not wanted.isdigit():
            raise ApplyError(f"{service.name}: label {PIDS_LIMIT_LABEL}={wanted!r} is not a "
                             "number; the program sets it, so the service was changed by hand")
        limits = ((spec["TaskTemplate"].get("Resources") or {}).get("Limits") or {})
        if int(limits.get("Pids") or 0) == int(wanted):
            continue
        say(f"{service.name}: PIDs limit {int(limits.get('Pids') or 0)}, and its "
            f"{PIDS_LIMIT_LABEL} label asks {wanted} (the provider cannot carry a service's "
            "limit, and an update that undoes a change by hand drops it); setting it again")
        result = subprocess.run(pids_limit_argv(int(wanted), str(service.name)),
                                capture_output=True, text=True, timeout=300, check=False)
        if result.returncode:
            raise ApplyError(f"{service.name}: docker service update --limit-pids failed: "
                             f"{result.stderr.strip()}")
        fixed.append(str(service.name))
    return fixed


def converge(client: docker.DockerClient, service_id: str, inputs: dict[str, Any],
             first_poll: float) -> None:
    """converge_config: after `first_poll` seconds (SF:52-77, 200-222), wait until the
    service's desired replicas run (with a healthcheck, Swarm reports a task running only
    once it is healthy) and any update has finished; an update Swarm rolled back or paused
    is a failure, as it is for the provider (SF:443-448)."""
    config = inputs.get("convergeConfig")
    if not config:
        return
    time.sleep(first_poll)
    timeout = _nanos(config.get("timeout") or "3m") / 1e9
    name = inputs["name"]
    replicas = int(((inputs.get("mode") or {}).get("replicated") or {}).get("replicas", 1))
    started = time.monotonic()

    def converged() -> bool:
        service = client.api.inspect_service(service_id)
        update = (service.get("UpdateStatus") or {}).get("State", "completed")
        if update in ("rollback_completed", "rollback_paused", "paused"):
            raise ApplyError(f"{name}: the update did not converge and Swarm "
                             f"{update.replace('_', ' ')} it: "
                             f"{service['UpdateStatus'].get('Message', '')}")
        if update not in ("completed", ""):
            return False
        tasks = client.api.tasks(filters={"service": service_id, "desired-state": "running"})
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        return len(running) == replicas and len(tasks) == replicas

    try:
        wait_until(converged, timeout, f"{name} converged", interval=1)
    except WaitTimeout:
        raise Unhealthy(f"{name}: not {replicas} running task(s) after {timeout:.0f} s; "
                        f"{task_report(client, service_id)}") from None
    say(f"{name}: {replicas}/{replicas} running after {time.monotonic() - started:.1f} s")


def task_report(client: docker.DockerClient, service_id: str) -> str:
    """The service's latest tasks and why each is where it is (docker service ps)."""
    tasks = sorted(client.api.tasks(filters={"service": service_id}),
                   key=lambda t: t.get("UpdatedAt", ""), reverse=True)[:6]
    return "tasks: " + "; ".join(
        f"{t['Status']['State']} ({t['Status'].get('Err') or t['Status'].get('Message')})"
        for t in tasks) if tasks else "no tasks"


def remove(client: docker.DockerClient, service_id: str, timeout: float = 60) -> None:
    """Remove the service, then wait until its task containers are gone: the network
    cannot be removed while they are attached."""
    try:
        service = client.services.get(service_id)
    except docker.errors.NotFound:
        return
    name = service.name
    service.remove()

    def tasks() -> list[Any]:
        return client.containers.list(
            all=True, filters={"label": f"com.docker.swarm.service.id={service_id}"})

    try:
        wait_until(lambda: not tasks(), timeout, f"{name}'s tasks gone", interval=0.5)
    except WaitTimeout:
        # SF:293-333: past the stop grace the provider force-removes what is left.
        for container in tasks():
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        if tasks():
            raise ApplyError(f"{name}: its task containers outlived {timeout:.0f} s and a "
                             "forced removal; `docker ps -a` lists them") from None
    say(f"{name}: service removed")


def running_replicas(client: docker.DockerClient, service_id: str) -> tuple[int, int]:
    """(running, desired) for `status`."""
    service = client.api.inspect_service(service_id)
    desired = int(service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0))
    tasks = client.api.tasks(filters={"service": service_id, "desired-state": "running"})
    return sum(t["Status"]["State"] == "running" for t in tasks), desired


def create_secret(client: docker.DockerClient, inputs: dict[str, Any]) -> str:
    """The input `data` is base64; the provider decodes it and the engine stores the
    bytes (docker-py encodes them again for the API)."""
    data = base64.b64decode(inputs["data"])
    secret = client.secrets.create(name=inputs["name"], data=data,
                                   labels=labels_of(inputs))
    say(f"{inputs['name']}: secret created")
    assert secret.id is not None
    return str(secret.id)


def remove_secret(client: docker.DockerClient, secret_id: str) -> None:
    try:
        client.secrets.get(secret_id).remove()
    except docker.errors.NotFound:
        return


def daemon_sets_no_new_privileges(client: docker.DockerClient, image: str) -> bool:
    """Whether a container that asks for nothing runs with no_new_privs: the daemon's
    `"no-new-privileges": true`, the only way a Swarm task gets it on API 1.41 (CIS 5.26)."""
    output = client.containers.run(image, ["grep", "NoNewPrivs", "/proc/self/status"],
                                   entrypoint=[], network_mode="none", remove=True)
    return output.decode().split()[-1:] == ["1"]


def running_containers(client: docker.DockerClient, outputs: dict[str, Any],
                       component: str) -> list[str]:
    """The names of a deployed component's containers: its container
    (`<component>_container` in the outputs), or each running task of its Swarm service
    (`<component>_service`), sorted."""
    if outputs.get(f"{component}_container"):
        return [outputs[f"{component}_container"]]
    service = outputs.get(f"{component}_service")
    tasks = client.containers.list(filters={
        "label": f"com.docker.swarm.service.name={service}"}) if service else []
    return sorted(str(task.name) for task in tasks)


def running_container(client: docker.DockerClient, outputs: dict[str, Any],
                      component: str) -> Any:
    """One running container of a deployed component (the first of running_containers)."""
    names = running_containers(client, outputs, component)
    if not names:
        raise docker.errors.NotFound(f"no running container of {component}")
    return client.containers.get(names[0])
