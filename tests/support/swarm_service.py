"""A deployed swarm stack's service as the swarm fault gates and the replica-scale load
see it (docs/swarm.md): its spec, its tasks and their containers, convergence, variant
images, and putting back the exact spec a run found, whatever the run did to it.

A run changes only the service's image or replica count, and puts the spec it found back
only over a spec it set itself (Held): a spec it did not set was set by someone else (a
`make up` meanwhile) and is left alone, with an error."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import docker.errors

from lucia_deploy.waiting import WaitTimeout, wait_until

# Swarm's update states while an update or a rollback is still moving tasks.
MOVING = {"updating", "rollback_started"}
IMAGE_REPOSITORY = "lucia-swarmfault"


def inspect(client: docker.DockerClient, service: str) -> dict[str, Any]:
    found: dict[str, Any] = client.api.inspect_service(service)
    return found


def spec(client: docker.DockerClient, service: str) -> dict[str, Any]:
    return copy.deepcopy(inspect(client, service)["Spec"])


def image_of(service_spec: dict[str, Any]) -> str:
    return str(service_spec["TaskTemplate"]["ContainerSpec"]["Image"])


def replicas_of(service_spec: dict[str, Any]) -> int:
    return int(service_spec["Mode"]["Replicated"]["Replicas"])


def update_state(client: docker.DockerClient, service: str) -> str:
    return str((inspect(client, service).get("UpdateStatus") or {}).get("State", ""))


def tasks(client: docker.DockerClient, service: str) -> list[dict[str, Any]]:
    """The tasks Swarm wants running (desired state running), in whatever state they are."""
    found: list[dict[str, Any]] = client.api.tasks(
        filters={"service": service, "desired-state": "running"})
    return found


def container_of(client: docker.DockerClient, task: dict[str, Any]) -> Any:
    container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
    if not container_id:
        return None
    try:
        return client.containers.get(container_id)
    except docker.errors.NotFound:
        return None


def health(container: Any) -> str:
    if container is None:
        return "absent"
    container.reload()
    state = container.attrs["State"]
    return str((state.get("Health") or {}).get("Status", state["Status"]))


def converged(client: docker.DockerClient, service: str, replicas: int,
              image: str | None = None) -> bool:
    """No update or rollback moving; exactly `replicas` tasks wanted and running (with a
    healthcheck Swarm says running only once healthy), each container healthy, and each
    on `image` when given."""
    if update_state(client, service) in MOVING:
        return False
    wanted = tasks(client, service)
    if len(wanted) != replicas:
        return False
    for task in wanted:
        if task["Status"]["State"] != "running":
            return False
        if image and task["Spec"]["ContainerSpec"]["Image"] != image:
            return False
        if health(container_of(client, task)) != "healthy":
            return False
    return True


def wait_converged(client: docker.DockerClient, service: str, replicas: int,
                   image: str | None = None, timeout: float = 180) -> float:
    """Seconds until converged(); an AssertionError naming the tasks when it never is."""
    try:
        return wait_until(lambda: converged(client, service, replicas, image), timeout,
                          f"{service}: {replicas} healthy task(s)", interval=0.5)[1]
    except WaitTimeout:
        raise AssertionError(f"{service} did not converge to {replicas} healthy task(s) "
                             f"in {timeout:.0f} s: {task_lines(client, service)}") from None


def wait_settled(client: docker.DockerClient, service: str, timeout: float = 240) -> None:
    """Wait out an update or rollback someone else started (a `make up` just before), and
    for the declared replicas to be healthy, so a run starts from a stable service."""
    wait_converged(client, service, replicas_of(spec(client, service)), timeout=timeout)


def task_lines(client: docker.DockerClient, service: str) -> str:
    found = sorted(client.api.tasks(filters={"service": service}),
                   key=lambda t: t.get("UpdatedAt", ""), reverse=True)[:6]
    return "; ".join(f"{t['ID'][:10]} {t['Status']['State']}/{t['DesiredState']} "
                     f"{t['Spec']['ContainerSpec']['Image'][:19]} "
                     f"{t['Status'].get('Err') or t['Status'].get('Message', '')}"
                     for t in found)


def put_spec(client: docker.DockerClient, service: str, new_spec: dict[str, Any]) -> None:
    """POST a whole ServiceSpec at the service's current version: exactly this spec, not
    one docker-py or the CLI rebuilds from arguments."""
    current = inspect(client, service)
    api: Any = client.api  # its request helpers are not in docker-py's stubs
    response = api._post_json(api._url("/services/{0}/update", current["ID"]),
                              data=new_spec, params={"version": current["Version"]["Index"]})
    api._raise_for_status(response)


def with_changes(base: dict[str, Any], *, image: str | None = None,
                 replicas: int | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(base)
    if image is not None:
        changed["TaskTemplate"]["ContainerSpec"]["Image"] = image
    if replicas is not None:
        changed["Mode"]["Replicated"]["Replicas"] = replicas
    return changed


class Held:
    """A service a run changes: the spec it was found with, and every spec the run itself
    gave it. `restore` puts the found spec back only over one of the run's own: a spec
    nobody in this run set was set by someone else (a `make up` meanwhile), and theirs is
    the newer truth, left alone with an error."""

    def __init__(self, client: docker.DockerClient, service: str) -> None:
        self.client = client
        self.service = service
        self.found = spec(client, service)
        self.ours: list[dict[str, Any]] = []

    def untouched(self) -> None:
        """Fail unless the service's spec is the one found or one this run set: a run
        never builds on someone else's change."""
        now = spec(self.client, self.service)
        if now != self.found and now not in self.ours:
            raise AssertionError(f"{self.service}: someone else changed its spec (image "
                                 f"{image_of(now)[7:19]}, replicas {replicas_of(now)}) "
                                 "while this run held it")

    def put(self, new_spec: dict[str, Any]) -> None:
        self.untouched()
        put_spec(self.client, self.service, new_spec)
        self.mark()

    def mark(self) -> None:
        """Record the service's spec now as one this run set (right after a command of
        the run's own changed it, e.g. `docker service update --image`)."""
        self.ours.append(spec(self.client, self.service))

    def restore(self, timeout: float = 240) -> str:
        """Put the found spec back, converged and healthy; what it did."""
        client, service, found = self.client, self.service, self.found
        try:
            wait_until(lambda: update_state(client, service) not in MOVING, timeout,
                       f"{service}: no update moving", interval=0.5)
        except WaitTimeout:
            raise AssertionError(f"{service}: an update still moving after {timeout:.0f} s;"
                                 f" not restoring: {task_lines(client, service)}") from None
        now = spec(client, service)
        if now == found:
            done = "spec already as found"
        elif now in self.ours:
            put_spec(client, service, found)
            done = (f"spec put back (image {image_of(now)[7:19]} -> {image_of(found)[7:19]},"
                    f" replicas {replicas_of(now)} -> {replicas_of(found)})")
        else:
            raise AssertionError(
                f"{service}: its spec is neither the one found nor one this run set (image "
                f"{image_of(now)[7:19]}, replicas {replicas_of(now)}): someone else changed "
                "it meanwhile; not restoring over their change")
        seconds = wait_converged(client, service, replicas_of(found), image_of(found),
                                 timeout=timeout)
        after = spec(client, service)
        assert after == found, f"{service}: the spec after restoring is not the one found: " \
            + json.dumps({"found": found, "now": after})[:2000]
        return f"{done}; converged in {seconds:.1f} s"


def build_variant(client: docker.DockerClient, base_image: str, kind: str,
                  extra: str = "") -> tuple[str, str]:
    """An image FROM the deployed one, with a LABEL (and `extra` Dockerfile lines):
    (its id, its tag lucia-swarmfault:<kind>-<random>)."""
    tag = f"{IMAGE_REPOSITORY}:{kind}-{uuid.uuid4().hex[:6]}"
    dockerfile = f"FROM {base_image}\nLABEL io.lucia.swarmfault={kind}\n{extra}\n"
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag,
                                   rm=True, forcerm=True)
    assert image.id is not None
    return str(image.id), tag


def remove_image(client: docker.DockerClient, tag: str, timeout: float = 60) -> None:
    """Remove a variant image; Swarm removes its task containers a little after a task
    ends, so a removal refused for an image in use is tried again until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.images.remove(tag, force=False)
            return
        except docker.errors.ImageNotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                raise
            prune_dead_task_containers(client, tag)
            time.sleep(1)


def prune_dead_task_containers(client: docker.DockerClient, tag: str) -> None:
    """Exited task containers of a variant image keep it in use; Swarm's task history
    keeps them, so they are removed here (only containers of our own variant images)."""
    try:
        image_id = client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return
    for container in client.containers.list(all=True, filters={"ancestor": str(image_id)}):
        if container.status in ("exited", "dead", "created"):
            with contextlib.suppress(docker.errors.APIError):
                container.remove()


def exec_in_task(client: docker.DockerClient, service: str, command: list[str]) -> str:
    """Run a command in one running task container of the service (as `prune` does in the
    single container of the other stacks); its stdout."""
    for task in tasks(client, service):
        container = container_of(client, task)
        if container is not None and container.status == "running":
            result = container.exec_run(command)
            output = str(result.output.decode(errors="replace"))
            if result.exit_code != 0:
                raise RuntimeError(f"{command} failed in {container.name}: {output[-500:]}")
            return output
    raise RuntimeError(f"{service} has no running task to run {command} in")


LUCIA_DEPLOY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "lucia-deploy"


def redeploy_would_change(client: docker.DockerClient, stack: str) -> list[str]:
    """What `lucia-deploy up --stack <stack>` would change now, beyond checking: the
    images it would build (their sources changed since the images were built, as its
    ensure_images decides) and the changes its plan holds (`preview`). On a machine where
    others rebuild the shared images (lucia:0.1.0), `up` would roll the service to their
    build and replace the edge: not the stack as a run found it."""
    from lucia_deploy import cli, images

    found: list[str] = []
    preview, config = cli.record_stack(stack, preview=True)
    outputs = preview.outputs
    sources = {outputs["redis_image"]: cli.tree_hash(images.REPO / "infra" / "images"
                                                    / "redis")}
    if not config.get("lucia:serviceImage"):
        sources[outputs["service_image"]] = cli.service_source(
            config.get("lucia:buildConfiguration", "Release"))
    if "edge_image" in outputs:
        sources[outputs["edge_image"]] = cli.tree_hash(images.EDGE_SOURCE)
    for tag, source in sources.items():
        if not cli._fresh(client, tag, source):
            found.append(f"{tag} would be rebuilt (its sources changed)")
    if "sim_image" in outputs and not found:
        source = cli.tree_hash(images.REPO / "sims") + cli.containers.docker_id(
            client.images.get(outputs["service_image"]))
        if not cli._fresh(client, outputs["sim_image"], source):
            found.append(f"{outputs['sim_image']} would be rebuilt")
    result = subprocess.run([str(LUCIA_DEPLOY), "preview", "--stack", stack],
                            capture_output=True, text=True, check=False, timeout=120)
    # The plan's lines are progress (stderr); the count is the command's answer (stdout).
    changes = [line.split("==>", 1)[-1].strip() for line in result.stderr.splitlines()
               if re.match(r"==>\s+(create|update|replace|delete)\s", line)]
    counted = re.search(r"stack \S+: (\d+) change\(s\)", result.stdout)
    if result.returncode != 0 or counted is None:
        found.append(f"preview failed: {result.stdout[-300:]} {result.stderr[-300:]}")
    elif int(counted.group(1)):
        found += changes or [f"{counted.group(1)} change(s)"]
    return found


def redeploy(client: docker.DockerClient, stack: str, service: str,
             found: dict[str, Any]) -> str:
    """Re-run `lucia-deploy up` when it would change nothing (then it must end healthy
    and leave the spec as found); otherwise say why it was not run."""
    changes = redeploy_would_change(client, stack)
    if changes:
        return ("`lucia-deploy up` not re-run: it would change what this run found "
                f"(others rebuilt shared images): {'; '.join(changes[:4])}")
    began = time.monotonic()
    result = subprocess.run([str(LUCIA_DEPLOY), "up", "--stack", stack],
                            capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, f"lucia-deploy up failed: {result.stdout[-1500:]}" \
        f"{result.stderr[-1500:]}"
    assert "is up and healthy" in result.stdout, result.stdout[-1500:]
    wait_converged(client, service, replicas_of(found), image_of(found))
    assert spec(client, service) == found, "`lucia-deploy up` changed the service's spec"
    return f"`lucia-deploy up` re-run: healthy, no change, {time.monotonic() - began:.1f} s"
