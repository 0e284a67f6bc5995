"""`lucia-deploy up|down|status|outputs|images|policy --stack NAME`.

`up` builds (or pulls) the images, then provisions the stack: with `pulumi up` and a local
file backend when the Pulumi CLI is on PATH, otherwise by running the same program under
recording mocks, checking the policies, and applying the resources with docker-py. It
waits until every container is healthy and writes the outputs the gates read
(.state/<stack>/outputs.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors

from lucia_deploy import apply, backup, containers, images, preflight, provider, services, stacks
from lucia_deploy.preflight import DeployError, Exit
from lucia_deploy.progress import say, step
from lucia_deploy.provider import UnknownProperty
from lucia_deploy.recorder import Recording, fake_image_id, record
from lucia_deploy.state import StackState, StateError

SOURCE_LABEL = "io.lucia.source-hash"


def docker_client() -> docker.DockerClient:
    return preflight.engine()


def _source(path: Path) -> bool:
    """Build outputs that a build itself leaves beside the sources (pip's build/ and
    *.egg-info, bytecode) are not sources: counting them made the second `up` after a
    first build rebuild the image and replace its containers."""
    return path.is_file() and not any(
        part in ("__pycache__", "build") or part.endswith(".egg-info")
        for part in path.relative_to(images.REPO).parts)


def tree_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if _source(p))
        for path in files:
            digest.update(str(path.relative_to(images.REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def service_source(configuration: str) -> str:
    """What the service image is built from. The lock too: an image is current only if
    its dependencies are what is locked."""
    return tree_hash(images.REPO / "service", images.SERVICE_LOCK) + configuration


def _fresh(client: docker.DockerClient, tag: str, source: str) -> bool:
    try:
        return client.images.get(tag).labels.get(SOURCE_LABEL) == source
    except docker.errors.ImageNotFound:
        return False


def ensure_images(client: docker.DockerClient, outputs: dict[str, Any],
                  config: dict[str, Any]) -> None:
    """Build the local images when their sources changed; pull registry references."""
    service_ref, redis_ref = outputs["service_image"], outputs["redis_image"]
    if config.get("lucia:serviceImage"):
        images.pull(client, service_ref)
    else:
        configuration = config.get("lucia:buildConfiguration", "Release")
        source = service_source(configuration)
        if _fresh(client, service_ref, source):
            say(f"{service_ref}: up to date")
        else:
            images.build_service(client, service_ref, configuration, {SOURCE_LABEL: source})
    if "sim_image" in outputs:
        sim_ref = outputs["sim_image"]
        source = tree_hash(images.REPO / "sims") + containers.docker_id(
            client.images.get(service_ref))
        if _fresh(client, sim_ref, source):
            say(f"{sim_ref}: up to date")
        else:
            images.build_sims(client, sim_ref, service_ref, {SOURCE_LABEL: source})
    if "edge_image" in outputs:
        edge_ref = outputs["edge_image"]
        source = tree_hash(images.EDGE_SOURCE)
        if _fresh(client, edge_ref, source):
            say(f"{edge_ref}: up to date")
        else:
            images.build_edge(client, edge_ref, {SOURCE_LABEL: source})
    if config.get("lucia:redisImage"):
        images.pull(client, redis_ref)
    else:
        source = tree_hash(images.REPO / "infra" / "images" / "redis")
        if _fresh(client, redis_ref, source):
            say(f"{redis_ref}: up to date")
        else:
            images.build_redis(client, redis_ref, {SOURCE_LABEL: source})


def record_stack(stack: str, *, preview: bool = False, client: docker.DockerClient | None = None,
                 missing_images_ok: bool = False) -> tuple[Recording, dict[str, Any]]:
    """Run the program for a stack under the provider-shaped mocks. With a client, each
    RemoteImage's imageId is the local image's id (built or pulled by ensure_images)."""
    config = stacks.stack_config(stack)
    secret_values, secret_keys = stacks.qualified_secrets(stack)
    from lucia_stack.config import ConfigError

    try:
        recording = record(stack, {**config, **secret_values}, secret_keys,
                           project=stacks.PROJECT, preview=preview,
                           image_ids=_engine_image_ids(client, missing_images_ok) if client
                           else fake_image_id, prior=_prior_state(stack))
    except ConfigError as exc:
        raise DeployError(f"{stacks.stack_file(stack).name}: {exc}", Exit.CONFIG) from None
    return recording, config


def _prior_state(stack: str) -> dict[str, dict[str, Any]]:
    """The applier's state by resource name: the old inputs the engine gives Check."""
    path = stacks.applier_state_path(stack)
    if not path.exists():
        return {}
    try:
        return {e.name: e.state for e in StackState.load(path).resources.values()}
    except StateError:
        return {}  # `up` reports an unreadable state itself


def _engine_image_ids(client: docker.DockerClient, missing_ok: bool) -> Callable[[str], str]:
    def image_id(reference: str) -> str:
        try:
            return containers.docker_id(client.images.get(reference))
        except docker.errors.ImageNotFound:
            if missing_ok:
                return apply.PENDING  # a preview: the image is built or pulled by `up`
            raise apply.ApplyError(f"image {reference} is neither built nor pulled; "
                                   "run `make images`") from None
    return image_id


def policy_violations(recording: Recording) -> list[str]:
    """The policy pack's own policies on the provider-checked inputs, as the engine runs
    them under `pulumi up --policy-pack`."""
    from lucia_policies.pack import Target, evaluate

    return [str(v) for v in evaluate([Target(r.type, r.name, r.urn, r.checked,
                                             r.dependencies, r.parent)
                                      for r in recording.custom])]


def _settings_first(stack: str) -> None:
    """Every bad setting of the stack file at once, before the program runs."""
    problems = preflight.settings_problems(stack)
    if problems:
        raise DeployError(f"stack {stack}: {len(problems)} problem(s):\n" + "\n".join(
            f"  - {p.message}" for p in problems), Exit.CONFIG)


def cmd_policy(args: argparse.Namespace) -> int:
    _settings_first(args.stack)
    recording, _ = record_stack(args.stack)
    violations = policy_violations(recording)
    for violation in violations:
        print(violation)
    print(f"{len(violations)} policy violation(s) in stack {args.stack}")
    return int(Exit.POLICY) if violations else 0


def _check_policies(recording: Recording) -> None:
    violations = policy_violations(recording)
    if violations:
        raise DeployError("\n".join(violations) + f"\n{len(violations)} policy violation(s); "
                          "not deploying", Exit.POLICY)
    say(f"policies: {len(recording.custom)} resources, 0 violations")


class Pulumi:
    """The CLI path: a local file backend under .state/pulumi, a passphrase per stack."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        backend = stacks.cli_backend()
        backend.mkdir(parents=True, exist_ok=True)
        passphrase = stacks.state_dir(stack) / "passphrase"
        if not passphrase.exists():
            passphrase.touch(mode=0o600)
            passphrase.write_text(os.urandom(24).hex())
        self.env = {**os.environ, "PULUMI_BACKEND_URL": f"file://{backend}",
                    "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase)}

    def run(self, *words: str, stdin: str | None = None, capture: bool = False) -> str:
        command = ["pulumi", *words, "--stack", self.stack, "--non-interactive"]
        # stdin: the value for `config set --secret`, else nothing (never a prompt).
        result = subprocess.run(command, cwd=images.REPO, env=self.env, text=True,
                                input=stdin, stdin=None if stdin is not None
                                else subprocess.DEVNULL, capture_output=capture, check=False)
        if result.returncode:
            detail = (result.stderr or "").strip()[-2000:] if capture else ""
            raise DeployError(f"`{' '.join(command)}` failed (exit {result.returncode})"
                              + (f": {detail}" if detail else ""), Exit.FAILED)
        return result.stdout if capture else ""

    def up(self, client: docker.DockerClient) -> dict[str, Any]:
        _refuse_applier_state(self.stack)
        self.run("stack", "select", "--create")
        # Secrets by Pulumi's convention: encrypted into the stack file, the value on
        # stdin (never in argv, where the process list shows it). Only what is missing
        # from the file, or given in the environment now, is set.
        encrypted = set(stacks.secure_keys(self.stack))
        given = {name for name, variable in stacks.FROM_ENVIRONMENT.items()
                 if variable in os.environ}
        for name, value in stacks.stack_secrets(self.stack).items():
            key = f"{stacks.NAMESPACE}:{name}"
            if key not in encrypted or name in given:
                self.run("config", "set", "--secret", key, stdin=value)
        # --refresh: read what exists first (a rebuilt image's new id, a stopped or
        # removed container), as the applier's refresh does.
        self.run("up", "--yes", "--skip-preview", "--refresh",
                 "--policy-pack", "infra/pulumi/policies")
        outputs: dict[str, Any] = json.loads(self.run("stack", "output", "--json",
                                                      capture=True))
        for key, name in outputs.items():
            if key.endswith("_container"):
                containers.wait_healthy(client, name, 180)
        return outputs

    def destroy(self) -> None:
        self.run("destroy", "--yes", "--skip-preview")


def use_cli(args: argparse.Namespace) -> bool:
    return bool(shutil.which("pulumi")) and not args.no_cli


def _refuse_applier_state(stack: str) -> None:
    state_path = stacks.applier_state_path(stack)
    if state_path.exists() and not StackState.load(state_path).empty:
        raise stacks.PathConflict(
            f"stack {stack} was deployed by the docker-py applier ({state_path}); take it "
            f"down with `lucia-deploy down --no-cli --stack {stack}` (the Redis volume is "
            "kept), then run `make up` again so Pulumi creates it")


def _applier(client: docker.DockerClient, stack: str, persist: bool = True) -> apply.Applier:
    held = stacks.cli_stack_resources(stack)
    if held:
        raise stacks.PathConflict(
            f"stack {stack} has Pulumi CLI state ({held} resources in "
            f"{stacks.cli_backend()}); the docker-py applier would fight it over the same "
            f"containers. Use the CLI (`make up` with pulumi on PATH), or "
            f"`pulumi destroy --stack {stack}` first")
    applier = apply.Applier(client, StackState.load(stacks.applier_state_path(stack)))
    applier.refresh(persist=persist)
    return applier


def cmd_preview(args: argparse.Namespace) -> int:
    """The plan `up` would apply, changing nothing (like `pulumi preview`)."""
    _settings_first(args.stack)
    client = docker_client()
    recording, _ = record_stack(args.stack, client=client, missing_images_ok=True)
    plan = _applier(client, args.stack, persist=False).plan(recording)
    plan.print()
    print(f"stack {args.stack}: {len(plan.changes)} change(s)")
    return 0


def _leftovers(stack: str) -> str:
    """What a failed `up` left on the engine (the state says), and what to do about it."""
    state = StackState.load(stacks.applier_state_path(stack))
    left = [f"{e.type.split(':')[-1].lower()} {e.name}" + (" (tainted)" if e.tainted else "")
            for e in state.resources.values()
            if e.type in (provider.CONTAINER, provider.NETWORK, provider.VOLUME)]
    if not left:
        return "\nnothing was left on the engine."
    return ("\nleft on the engine (kept in .state/" + stack + "/state.json):\n"
            + "\n".join(f"  - {item}" for item in left)
            + f"\nremove them with `make down STACK={stack}`, or fix the cause and run "
            f"`make up STACK={stack}` again: it continues from what exists.")


def _swarm_ready(client: docker.DockerClient, recording: Recording, stack: str) -> None:
    """A stack of Swarm services needs this engine in a swarm (started if it is in none)
    and the daemon's no-new-privileges, which a service cannot ask for (docs/swarm.md)."""
    if not services.daemon_sets_no_new_privileges(client, recording.outputs["service_image"]):
        raise DeployError("the Docker daemon does not set no-new-privileges, and a Swarm "
                          "service cannot ask for it (CIS 5.26): add \"no-new-privileges\": "
                          "true to /etc/docker/daemon.json (make bootstrap does) and restart "
                          "dockerd", Exit.ENGINE)
    services.ensure_swarm(client, stack)


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with step(f"preflight for stack {args.stack}"):
        client = preflight.check(args.stack)
    with step(f"previewing stack {args.stack} from the Pulumi program"):
        preview, config = record_stack(args.stack, preview=True)
    _check_policies(preview)
    ensure_images(client, preview.outputs, config)
    if preview.of_type(provider.SERVICE):  # both paths: pulumi up needs the swarm too
        _swarm_ready(client, preview, args.stack)
    if use_cli(args):
        with step("pulumi up --refresh (local file backend)"):
            outputs = Pulumi(args.stack).up(client)
    else:
        recording, _ = record_stack(args.stack, client=client)
        _check_policies(recording)
        with step(f"applying {args.stack} with docker-py (no Pulumi CLI on PATH)"):
            applier = _applier(client, args.stack)
            plan = applier.plan(recording)
            plan.print()
            try:
                applier.apply(plan)
            except apply.Unhealthy as exc:
                raise DeployError(f"{exc}{_leftovers(args.stack)}", Exit.UNHEALTHY) from exc
            except (apply.ApplyError, docker.errors.DockerException) as exc:
                raise DeployError(f"{exc}{_leftovers(args.stack)}", Exit.FAILED) from exc
        outputs = recording.outputs
    if preview.of_type(provider.SERVICE):
        services.restore_pids_limits(client, stacks.PROJECT, args.stack)
    path = stacks.write_outputs(args.stack, outputs)
    elapsed = time.monotonic() - started
    url = outputs["service_url"]
    print(f"stack {args.stack} is up and healthy in {elapsed:.1f} s; outputs in "
          f"{path}\n"
          f"  service: {url}\n"
          f"  try:     curl -s {url}/health\n"
          f"           curl -s -X POST {url}/api/chat -H 'Content-Type: application/json' "
          "-d '{\"message\": \"hello\"}'")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    client = docker_client()
    if use_cli(args):
        _refuse_applier_state(args.stack)
        Pulumi(args.stack).destroy()
        removed = ["the stack's resources (pulumi destroy)"]
        if args.purge:
            removed += apply.sweep(client, stacks.PROJECT, args.stack, purge=True)
    else:
        applier = _applier(client, args.stack)
        removed = applier.destroy(purge=args.purge)
        # Anything with this stack's labels that no state holds (deployed before the
        # applier kept state).
        removed += apply.sweep(client, stacks.PROJECT, args.stack, purge=args.purge)
    for item in removed:
        say(f"removed {item}")
    if services.forget_swarm_use(args.stack):
        say(f"stack {args.stack} no longer needs the engine's swarm")
        said = services.leave_swarm_if_unneeded(client)
        if said:
            say(said)
    if not args.purge:
        say("the Redis volume is kept (use --purge to delete it)")
    outputs = stacks.STATE / args.stack / "outputs.json"
    outputs.unlink(missing_ok=True)
    print(f"stack {args.stack} is down ({len(removed)} removed)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    client = docker_client()
    containers = apply.stack_containers(client, stacks.PROJECT, args.stack)
    swarm_services = services.stack_services(client, stacks.PROJECT, args.stack)
    if not containers and not swarm_services:
        print(f"stack {args.stack}: not running")
        return int(Exit.NOT_UP)
    worst = 0
    for service in sorted(swarm_services, key=lambda s: s.name or ""):
        running, desired = services.running_replicas(client, apply.docker_id(service))
        print(f"{service.name:28} service    {running}/{desired} running")
        worst = max(worst, 0 if running == desired else 1)
    for container in sorted(containers, key=lambda c: c.name or ""):
        state = container.attrs["State"]
        if "com.docker.swarm.task.id" in container.labels and state["Status"] != "running":
            continue  # Swarm's task history: replaced tasks, kept for `docker service ps`
        health = (state.get("Health") or {}).get("Status", "-")
        ports = ", ".join(f"{b['HostIp']}:{b['HostPort']}->{p}"
                          for p, bindings in (container.ports or {}).items()
                          for b in bindings or [])
        print(f"{container.name:28} {state['Status']:10} {health:10} {ports}")
        worst = max(worst, 0 if health in ("healthy", "-") and state["Status"] == "running"
                    else 1)
    return worst


def cmd_outputs(args: argparse.Namespace) -> int:
    """The stack's outputs: Pulumi's own with the CLI (saved for the gates), else the
    ones the applier recorded."""
    if use_cli(args):
        outputs = json.loads(Pulumi(args.stack).run("stack", "output", "--json",
                                                    capture=True))
        stacks.write_outputs(args.stack, outputs)
    else:
        outputs = stacks.read_outputs(args.stack)
    print(json.dumps(outputs, indent=2, sort_keys=True))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    client = docker_client()
    recording, config = record_stack(args.stack)
    ensure_images(client, recording.outputs, config)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    path = backup.backup(docker_client(), args.stack, Path(args.file) if args.file else None)
    print(path)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    if not args.file:
        raise DeployError("restore needs --file (make restore FILE=...)", Exit.BACKUP_FILE)
    if not Path(args.file).is_file():
        raise backup.MissingBackup(f"{args.file} does not exist")
    client = docker_client()
    recording, config = record_stack(args.stack)
    # The stack is down, so its Redis image may be gone after a prune: build or pull it.
    ensure_images(client, recording.outputs, config)
    backup.restore(client, args.stack, Path(args.file), recording.outputs)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """List (and with --apply delete) sessions, run inside the service container so it uses
    the service's own Redis credentials (docs/capacity.md)."""
    outputs = stacks.read_outputs(args.stack)  # NotUp when it never came up
    try:
        container = services.running_container(docker_client(), outputs, "service")
    except docker.errors.NotFound:
        raise stacks.NotUp(f"stack {args.stack} is not up; run `make up STACK={args.stack}` "
                           "first") from None
    command = ["python", "-m", "lucia.retention", "--prefix", args.prefix,
               "--idle-seconds", str(args.idle_seconds)]
    command += ["--apply"] if args.apply else []
    command += ["--reindex"] if args.reindex else []
    result = container.exec_run(command, demux=True)
    # With demux=True docker-py gives (stdout, stderr), each None when the stream was
    # empty; the stubs type `output` without demux (bytes | Iterator[bytes]).
    stdout, stderr = cast(tuple[bytes | None, bytes | None], result.output)
    sys.stdout.write((stdout or b"").decode())
    sys.stderr.write((stderr or b"").decode())
    return 0 if result.exit_code == 0 else int(Exit.FAILED)


def cmd_check_up(args: argparse.Namespace) -> int:
    """One line and exit 8 when the stack is not up (for `make verify`, `load`, `faults`)."""
    outputs = stacks.read_outputs(args.stack)  # NotUp when it never came up
    client = docker_client()
    # The container that answers on the stack's port: the service's, or the swarm
    # stack's edge, whose service must then have a running replica behind it.
    name = outputs.get("service_container") or outputs.get("edge_container", "")
    try:
        running = client.containers.get(name).status == "running"
    except docker.errors.NotFound:
        running = False
    service = outputs.get("service_service")
    if running and service:
        try:
            running = services.running_replicas(client, service)[0] > 0
            name = f"{name} or every replica of {service}"
        except docker.errors.NotFound:
            running = False
    if not running:
        raise stacks.NotUp(f"stack {args.stack} is not up ({name} is not running); run "
                           f"`make up STACK={args.stack}` first")
    return 0


# Each known failure: its exit code (docs/deployment.md lists them).
EXIT_CODES: tuple[tuple[type[BaseException], Exit], ...] = (
    (stacks.NotUp, Exit.NOT_UP),
    (stacks.MissingSecrets, Exit.SECRETS),
    (stacks.PathConflict, Exit.STATE),
    (stacks.StackError, Exit.CONFIG),
    (StateError, Exit.STATE),
    (apply.Unhealthy, Exit.UNHEALTHY),
    (images.ImageError, Exit.IMAGE),
    (backup.MissingBackup, Exit.BACKUP_FILE),
    (apply.ApplyError, Exit.FAILED),
    (backup.BackupError, Exit.FAILED),
    (UnknownProperty, Exit.FAILED),
)


def exit_code(error: BaseException) -> Exit | None:
    if isinstance(error, DeployError):
        return error.code
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lucia-deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("up", cmd_up, "build images and provision the stack; wait until healthy"),
        ("preview", cmd_preview, "print the plan `up` would apply, changing nothing"),
        ("down", cmd_down, "remove the stack's containers and network (volume kept)"),
        ("status", cmd_status, "show the stack's containers and health"),
        ("outputs", cmd_outputs, "print the stack outputs the gates read"),
        ("images", cmd_images, "build or pull the stack's images only"),
        ("policy", cmd_policy, "check the stack's resources against the hardening policies"),
        ("backup", cmd_backup, "write a consistent snapshot of the stack's Redis to a file"),
        ("restore", cmd_restore, "load a snapshot into a stopped stack's Redis volume"),
        ("prune", cmd_prune, "list sessions to reclaim; delete them with --apply"),
        ("check-up", cmd_check_up, "exit 8 with one line when the stack is not up"),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--stack", default=os.environ.get("STACK", "dev"))
        command.add_argument("--debug", action="store_true",
                             help="show the traceback of a failure")
        command.set_defaults(handler=handler)
        if name == "down":
            command.add_argument("--purge", action="store_true",
                                 help="also delete the Redis data volume")
        if name in ("backup", "restore"):
            command.add_argument("--file", default=os.environ.get("FILE"),
                                 help="snapshot path (backup: default backups/STACK-TIME.rdb)")
        if name == "prune":
            command.add_argument("--prefix", default=os.environ.get("PREFIX", ""),
                                 help="only session ids starting with this")
            command.add_argument("--idle-seconds", type=float,
                                 default=float(os.environ.get("IDLE") or 0),
                                 help="only sessions unused for at least this long")
            command.add_argument("--apply", action="store_true",
                                 default=os.environ.get("APPLY", "") not in ("", "0"),
                                 help="delete them (default: list only)")
            command.add_argument("--reindex", action="store_true",
                                 help="first index sessions stored before the index existed")
        if name in ("up", "down", "outputs"):
            command.add_argument("--no-cli", action="store_true",
                                 help="use the docker-py applier even if pulumi is on PATH")
    args = parser.parse_args(argv)
    run_command: Callable[[argparse.Namespace], int] = args.handler
    try:
        return run_command(args)
    except Exception as exc:  # turned into one line and an exit code; --debug re-raises
        code = exit_code(exc)
        if code is None and isinstance(exc, docker.errors.DockerException):
            # The engine refused a step (a port taken, a network in use): say which; the
            # state says what exists, so `down` or the next `up` can follow.
            code, exc = Exit.FAILED, RuntimeError(f"the Docker engine refused: {exc}")
        if args.debug or code is None:
            raise
        print(f"lucia-deploy: {exc}", file=sys.stderr)
        return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
