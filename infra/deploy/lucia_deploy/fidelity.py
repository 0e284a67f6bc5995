"""Generate docs/pulumi-fidelity.md from the provider table and the program: one row per
property any stack's program sends to the provider (set by the program, or filled by the
provider's defaults), per resource type, saying what the provider does and what the
stand-in does, and naming the test that proves they match.

`python -m lucia_deploy.fidelity` writes it; `--check` fails when the committed file is
stale (a test runs it)."""

from __future__ import annotations

from lucia_deploy import gendoc, provider
from lucia_deploy.images import REPO
from lucia_deploy.provider import (
    COMMAND,
    CONTAINER,
    NETWORK,
    REMOTE_IMAGE,
    SECRET,
    SERVICE,
    VOLUME,
    Change,
)

TARGET = REPO / "docs" / "pulumi-fidelity.md"
MODEL = "tests/program/test_provider_model.py"
ENGINE = "tests/deploy/test_applier_engine.py"
POLICIES = "tests/program/test_policies.py"
CLI = "tests/deploy/test_cli_path.py"
SWARM = "tests/swarm/test_applier.py"

# What proves each kind of behaviour; specific rows below override.
KIND = f"{MODEL}::test_container_change_kind_matches_the_provider_source"
BY_CHANGE = {
    Change.REPLACE: f"{KIND}, "
                    f"{ENGINE}::test_cpus_change_replaces_the_container_and_reruns_its_pids_limit",
    Change.UPDATE: f"{KIND}, "
                   f"{ENGINE}::test_memory_change_updates_in_place",
    Change.STATE: f"{KIND}, "
                  f"{MODEL}::test_replace_on_changes_makes_state_only_changes_take_effect",
}
SPECIFIC = {
    (CONTAINER, "cpus"): f"{MODEL}::test_cpus_read_back_as_the_provider_writes_them, "
                         f"{MODEL}::test_a_cpus_value_that_reads_back_differently_replaces_"
                         f"every_time, {ENGINE}::test_cpus_change_replaces_the_container_and_"
                         "reruns_its_pids_limit",
    (CONTAINER, "healthcheck"): f"{MODEL}::test_healthcheck_durations_read_back_as_go_prints_"
                                f"them, {MODEL}::test_replace_on_changes_makes_state_only_"
                                "changes_take_effect",
    (CONTAINER, "networkMode"): f"{POLICIES}::test_policies_see_the_provider_defaults, "
                                f"{ENGINE}::test_network_is_what_the_provider_leaves",
    (CONTAINER, "networksAdvanced"): f"{ENGINE}::test_network_is_what_the_provider_leaves",
    (CONTAINER, "mustRun"): f"{ENGINE}::test_stopped_container_is_started_in_place",
    (CONTAINER, "destroyGraceSeconds"): f"{MODEL}::test_every_container_has_a_stop_grace",
    (CONTAINER, "stopTimeout"): f"{MODEL}::test_every_container_has_a_stop_grace",
    (CONTAINER, "ports"): f"{MODEL}::test_check_fills_the_schema_defaults",
    (CONTAINER, "image"): f"{MODEL}::test_preview_leaves_computed_outputs_unknown, "
                          f"{ENGINE}::test_second_up_is_a_plan_of_zero_changes_and_keeps_every_"
                          "container",
    (VOLUME, "name"): f"{ENGINE}::test_destroy_keeps_the_retained_volume_unless_purged",
    (COMMAND, "create"): f"{ENGINE}::test_every_container_has_its_pids_limit, "
                         f"{POLICIES}::test_missing_pids_limit_breaks_5_29",
    (COMMAND, "triggers"): f"{ENGINE}::test_cpus_change_replaces_the_container_and_reruns_its_"
                           "pids_limit",
    (REMOTE_IMAGE, "name"): f"{ENGINE}::test_second_up_is_a_plan_of_zero_changes_and_keeps_"
                            "every_container",
    (SERVICE, "taskSpec"): f"{MODEL}::test_service_change_kind_matches_the_provider_source, "
                           f"{MODEL}::test_service_diff_follows_the_sdk_zero_value_and_set_"
                           f"rules, {SWARM}::test_every_task_runs_hardened_with_its_pids_limit",
    (SERVICE, "convergeConfig"): f"{MODEL}::test_service_change_kind_matches_the_provider_"
                                 f"source, {SWARM}::test_replicas_update_the_service_in_place",
}
NON_CONTAINER = {
    NETWORK: f"{MODEL}::test_networks_and_volumes_have_no_update, "
             f"{ENGINE}::test_second_up_is_a_plan_of_zero_changes_and_keeps_every_container",
    VOLUME: f"{MODEL}::test_networks_and_volumes_have_no_update, "
            f"{ENGINE}::test_destroy_keeps_the_retained_volume_unless_purged",
    REMOTE_IMAGE: f"{ENGINE}::test_second_up_is_a_plan_of_zero_changes_and_keeps_every_"
                  "container",
    COMMAND: f"{ENGINE}::test_every_container_has_its_pids_limit",
    SERVICE: f"{MODEL}::test_service_change_kind_matches_the_provider_source, "
             f"{SWARM}::test_replicas_update_the_service_in_place, "
             f"{SWARM}::test_second_up_changes_nothing",
    SECRET: f"{MODEL}::test_secrets_are_auto_named_and_keep_their_name_until_replaced, "
            f"{SWARM}::test_a_new_secret_value_moves_the_service_to_a_new_secret",
}
TITLES = {CONTAINER: "Container (`docker:index/container:Container`)",
          NETWORK: "Network (`docker:index/network:Network`)",
          VOLUME: "Volume (`docker:index/volume:Volume`)",
          REMOTE_IMAGE: "RemoteImage (`docker:index/remoteImage:RemoteImage`)",
          SERVICE: "Service (`docker:index/service:Service`, the swarm engine)",
          SECRET: "Secret (`docker:index/secret:Secret`, the swarm engine)",
          COMMAND: "Command (`command:local:Command`, pulumi-command)"}

INTRO = """# Pulumi fidelity: the offline deploy path against the real provider

Generated by `python -m lucia_deploy.fidelity` from `infra/deploy/lucia_deploy/provider.py`
and the program; do not edit by hand (a test checks it).

Without the Pulumi CLI, `lucia-deploy` runs the program under provider-shaped mocks and
applies the recorded resources with docker-py. This table holds that stand-in to what
`pulumi up --refresh` with pulumi-docker 5.x does, for every property a stack's program
sends. Sources are kreuzwerker/terraform-provider-docker v4.5.0 (commit 5074970c, the
`upstream` submodule of pulumi-docker v5.1.0 and of its newest commit 237b7899): C =
`internal/provider/resource_docker_container.go`, CF = `resource_docker_container_funcs.go`,
H = `helpers.go`, N = `resource_docker_network*.go`, V = `resource_docker_volume.go`, I =
`resource_docker_image*.go`, S / SF / SS = `resource_docker_service.go` / `_funcs.go` /
`_structures.go`, SEC = `resource_docker_secret.go`; R = pulumi-docker `resources.go`; B =
pulumi-terraform-bridge v3.133.0; PC = pulumi-command 1.2.1's `local.Command`.

Columns: **default** is what the provider's Check fills (and the engine passes to policy
packs); a falsy schema default (`false`, `0`, `""`) is shown *(not filled)*: B v3.127.0
and later leave it out, so the provider sees the field as omitted, as Terraform would
(pulumi-terraform-bridge#2618); **read back** is what its Read stores; **change** is what
a new value does: *replace* (ForceNew; a Container is deleted before its replacement,
pulumi-docker `resources.go:114`), *update* (the provider's Update changes the running
object), or *state only* (saved, never applied: the program lists `tmpfs`, `healthcheck`
and `init` in `replaceOnChanges` so that both paths replace instead). **Stand-in** is what
the docker-py applier does; it plans from this same table, so the two cannot disagree
silently. **Proof** names the test that pins the row to the provider's source (for a
Container, `test_container_change_kind_matches_the_provider_source` holds every row's
change kind to the Update list and the inputs that are neither, copied from CF:1016-1019)
and the engine test that shows that kind of change carried out on real containers.

## How the stand-in matches the engine
"""
ENGINE_ROWS = (
    ("Check fills schema defaults before policies run",
     "the mocks return checked inputs; policies run through `pulumi_policy` on them",
     f"{POLICIES}::test_policies_see_the_provider_defaults"),
    ("preview: computed outputs (ids, `imageId`) unknown",
     "`preview=True` mocks leave them unknown",
     f"{MODEL}::test_preview_leaves_computed_outputs_unknown"),
    ("`--refresh`: a deleted object is created again; a stopped container reads "
     "`mustRun: false` and is started", "`Applier.refresh`",
     f"{ENGINE}::test_stopped_container_is_started_in_place"),
    ("`--refresh` reads what a living container can have changed (CF:750-990: name, "
     "restart policy, memory, swap, reservation, CPU shares, cpuset, cpus): a change by "
     "hand is set back in place or replaces, as the change kinds above say; CPU shares "
     "the program leaves unset stay and show on every plan (Update sends 0, which Docker "
     "ignores)", "`reads.read_container`",
     f"{ENGINE}::test_limits_and_restart_policy_changed_by_hand_are_set_back_in_place, "
     f"{ENGINE}::test_a_container_renamed_by_hand_is_replaced, "
     f"{ENGINE}::test_cpu_shares_set_by_hand_stay_and_show_on_every_plan"),
    ("`--refresh` reads a service's whole spec (SF:109-175, the flatteners of SS); "
     "Optional+Computed fields the program leaves unset take what Read found; a block of "
     "zeros equals an unset one (kreuzwerker's TestAccDockerService_fullSpec); the "
     "command that sets a PIDs limit does not re-run after an update that undoes a "
     "change by hand (lucia-deploy sets the limit after `up`)",
     "`reads.read_service`, `Prop.computed_paths`",
     f"{SWARM}::test_the_next_up_sets_a_service_changed_by_hand_back, "
     f"{MODEL}::test_unset_optional_computed_service_fields_take_what_read_found"),
    ("resources no longer declared are deleted; `retainOnDelete` keeps the volume",
     "plan `delete`; retained entries leave the state only",
     f"{ENGINE}::test_turning_simulators_off_deletes_their_containers, "
     f"{ENGINE}::test_destroy_keeps_the_retained_volume_unless_purged"),
    ("one state per stack", "`.state/<stack>/state.json`; the CLI path and the applier "
     "refuse a stack the other holds",
     f"{CLI}::test_cli_up_refuses_a_stack_the_applier_deployed, "
     f"{CLI}::test_applier_refuses_a_stack_the_cli_deployed"),
    ("a create that fails after ContainerCreate keeps the id in the state (tainted); the "
     "next `up` replaces it", "the entry is saved right after create, marked tainted",
     f"{ENGINE}::test_a_create_that_fails_is_kept_tainted_and_replaced_next_time"),
    ("secret inputs are encrypted in the state", "stored as SHA-256 digests, never in "
     "plain", f"{ENGINE}::test_state_holds_no_secret"),
    ("a second `up` with nothing changed does nothing", "plan of 0 changes, same ids",
     f"{ENGINE}::test_second_up_is_a_plan_of_zero_changes_and_keeps_every_container"),
    ("secrets: `secure:` values in the stack file; `config set --secret` reads the value "
     "from stdin (pulumi `config.go:812-838`)",
     "offline: environment or `.state/<stack>`; CLI: value on stdin",
     f"{CLI}::test_make_up_runs_pulumi_up_with_secrets_on_stdin, "
     f"{CLI}::test_encrypted_stack_values_are_kept_and_missing_ones_named"),
)

OUTRO = """
## What could not be proven without the CLI

- The table is read from kreuzwerker v4.5.0, the upstream of pulumi-docker v5.1.0. The
  installed SDK is 5.2.0, whose only schema differences from 5.1.0 are
  `Container.deviceCgroupRules` and upload `owner`/`group`, neither of which the program
  uses; its upstream commit was not available to read.
- Whether the bridge includes `__defaults` metadata in the checked inputs it hands to
  policy packs is not modelled; no rule reads it.
- `memorySwap` equal to `memory` reads back unchanged; a program that set `memory` alone
  would see Docker double the swap and a diff on every `up` (the program always sets both).
  On a host without swap accounting Docker stores -1 instead, and every `up` plans an
  update of it, with the provider as with the applier.
- The applier's service Update sends the program's spec; the provider's sends the planned
  state, which keeps what Read found in an Optional+Computed field the program leaves
  unset (a `forceUpdate` count, a placement preference added by hand). The plan is the
  same; the update sent differs in those fields only.
- Refresh reads whether each object still exists (an image by its name); for a
  container, every field it can change while it lives (`reads.read_container`); for a
  service, its whole spec (`reads.read_service`). A container's other fields are fixed
  when it is created, so they read back what Read found then (`read_back`); a secret's
  data is never read back (SEC:137-139). Read's `network_data`, `bridge` and `exit_code`
  are outputs no plan compares, and are not kept.
- Differences kept on purpose, each refused with a message rather than done otherwise: a
  network change (the provider would replace a network its containers are attached to;
  the applier asks for `make down` first), a volume change (it would delete the data), and
  a container of the stack's name that is not the stack's (Pulumi would fail on the name
  conflict too). A network or volume with this stack's labels left by a deployment from
  before the applier kept state is taken into the state (`import`); Pulumi would need
  `pulumi import`.
- Swarm services (the swarm engine, docs/swarm.md): the provider has no PIDs limit for a
  service and its Update sends the whole spec it knows, so the limit a `command.local`
  sets after each create or update is dropped by the next update until that command runs
  again (it is triggered by the service's spec). The provider's own create converges on
  the tasks' state `running` and deletes a service that never gets there (SF:66-71); the
  applier does the same. An update's wait polls first after 7 s (SF:210), as the
  provider's does, then until Swarm's update state is `completed` (a rollback or pause
  fails the `up`). A service's explicit `name` makes its replacement delete first (B
  schema.go:195-246): the program names services (the gates find them by name) and
  leaves secrets to autonaming, so a new secret exists before the old one goes.
- The CLI path is exercised with a recording `pulumi` on PATH (argv, stdin, environment),
  not with the real engine: the engine's own Diff, `--refresh` and policy-pack loading
  (PulumiPolicy.yaml's `virtualenv`) were not run here.
"""


def _default_cell(value: object) -> str:
    return _cell(value) if provider.filled_by_check(value) else f"{_cell(value)} (not filled)"


def _cell(value: object) -> str:
    if value is None or value == "":
        return "-"
    return f"`{value}`".replace("|", "\\|")


def _used() -> dict[str, set[str]]:
    """Properties each resource type receives from any stack's program, defaults filled."""
    from lucia_deploy.recorder import record
    from lucia_deploy.stacks import available_stacks, stack_config

    secrets = {f"lucia:{k}": v for k, v in {
        "redisPassword": "documentation-password-1", "redisServicePassword":
        "documentation-password-2", "chatModel": "", "embeddingsModel": "",
        "homeAssistantToken": "", "apiKey": ""}.items()}
    used: dict[str, set[str]] = {}
    for stack in available_stacks():
        recording = record(stack, {**stack_config(stack), **secrets}, sorted(secrets))
        for resource in recording.custom:
            used.setdefault(resource.type, set()).update(resource.plain)
    return used


def render() -> str:
    used = _used()
    lines = [INTRO, "| engine behaviour | stand-in | proof |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in ENGINE_ROWS]
    for type_, title in TITLES.items():
        lines += ["", f"## {title}", "",
                  "| property (TF name) | default | read back | change | stand-in | source "
                  "| proof |", "|---|---|---|---|---|---|---|"]
        for prop in provider.props(type_).values():
            if prop.name not in used.get(type_, set()):
                continue
            default = _default_cell(prop.default) if prop.has_default else "-"
            if prop.nested_defaults:
                default = ", ".join(f"{k}: {_default_cell(v)}"
                                    for k, v in prop.nested_defaults.items())
            read_back = " ".join((prop.read_back.__doc__ or "").split()) \
                if prop.read_back else "as given"
            proof = SPECIFIC.get((type_, prop.name)) or (
                BY_CHANGE[prop.change] if type_ == CONTAINER else NON_CONTAINER[type_])
            lines.append(f"| `{prop.name}` (`{prop.tf}`) | {default} | {read_back} | "
                         f"{prop.change} | {prop.applier} | {prop.source} | {proof} |")
    lines.append(OUTRO)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    return gendoc.main(TARGET, render, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
