"""The provider table (lucia_deploy/provider.py) pinned against what pulumi-docker's source
says, and the program held to it: every property the program sets is modelled, reads back
unchanged (so a second `up` is a no-op), and each kind of change is planned as the
provider would plan it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lucia_deploy import provider, reads
from lucia_deploy.provider import CONTAINER, NETWORK, SECRET, SERVICE, Change
from lucia_deploy.recorder import Recording
from lucia_stack import cpus
from tests.program.conftest import STACKS, Record


@pytest.mark.parametrize(("nanos", "text"), [
    # kreuzwerker v4.5.0 helpers_test.go: the upstream cases, verbatim.
    (0, "0"), (1_000_000_000, "1.0"), (1_500_000_000, "1.5"), (2_000_000_000, "2.0"),
    (2_250_000_000, "2.25"),
    # Consequences of the same code: a bare trailing dot at 10, rounding below 0.1.
    (10_000_000_000, "10."), (50_000_000, "0.1"), (500_000_000, "0.5"),
])
def test_cpus_read_back_as_the_provider_writes_them(nanos: int, text: str) -> None:
    assert cpus.nano_to_decimal_string(nanos) == text


@pytest.mark.parametrize(("given", "state"), [("1", "1.0"), ("1.0", "1.0"), ("0.5", "0.5")])
def test_a_cpus_value_that_reads_back_differently_replaces_every_time(given: str,
                                                                      state: str) -> None:
    inputs = provider.check(CONTAINER, {"cpus": given})
    stored = provider.read_back(CONTAINER, inputs)
    assert stored["cpus"] == state
    expected = "unchanged" if given == state else "replace"
    assert provider.diff(CONTAINER, stored, inputs).kind == expected


def test_program_cpus_round_trip_for_every_allowed_step() -> None:
    for hundredths in range(10, 1000):
        value = hundredths / 100
        try:
            text = cpus.provider_cpus(value)
        except ValueError:
            continue  # refused by the stack config with the value it would become
        assert cpus.read_back(text) == text, value
        assert cpus.parse_cpus(text) == round(value * 1e9), value


@pytest.mark.parametrize(("text", "state"), [("5s", "5s"), ("1m", "1m0s"), ("90s", "1m30s"),
                                             ("500ms", "500ms"), ("0s", "0s"), ("2h", "2h0m0s")])
def test_healthcheck_durations_read_back_as_go_prints_them(text: str, state: str) -> None:
    assert provider.format_duration(provider.parse_duration(text)) == state


def test_check_fills_the_schema_defaults() -> None:
    checked = provider.check(CONTAINER, {"name": "c", "image": "sha256:x",
                                         "ports": [{"internal": 1, "external": 2}],
                                         "healthcheck": {"tests": ["CMD", "true"]}})
    assert checked["networkMode"] == "bridge"          # C:901-907
    assert checked["restart"] == "no"                  # C:230-236
    assert checked["mustRun"] is True                  # C:122-127
    assert checked["waitTimeout"] == 60                # C:86-91
    assert checked["ports"] == [{"internal": 1, "external": 2, "ip": "0.0.0.0",
                                 "protocol": "tcp"}]   # C:487-535
    assert checked["healthcheck"]["interval"] == "0s"  # C:1045-1096
    # B v3.127.0+: falsy schema defaults stay omitted (pulumi-terraform-bridge#2618).
    for falsy in ("readOnly", "wait", "rm", "tty", "memoryReservation"):  # C:64-70, 79-84
        assert falsy not in checked
    assert "retries" not in checked["healthcheck"]     # default 0
    assert "logDriver" not in checked                  # no default: the daemon's
    assert provider.check(NETWORK, {"name": "n"})["ipamDriver"] == "default"


def test_unknown_property_is_refused_not_dropped() -> None:
    with pytest.raises(provider.UnknownProperty, match="pidsLimit"):
        provider.check(CONTAINER, {"name": "c", "pidsLimit": 100})
    with pytest.raises(provider.UnknownProperty, match="utsMode"):
        provider.check(CONTAINER, {"utsMode": "host"})


# One representative per kind of change, from the provider's own lists (CF:1016-1019).
@pytest.mark.parametrize(("prop", "value", "kind", "change"), [
    ("memory", 600, "update", Change.UPDATE),
    ("memorySwap", 600, "update", Change.UPDATE),
    ("restart", "always", "update", Change.UPDATE),
    ("maxRetryCount", 3, "update", Change.UPDATE),
    ("cpus", "1.0", "replace", Change.REPLACE),
    ("envs", ["A=1"], "replace", Change.REPLACE),
    ("user", "1001:1001", "replace", Change.REPLACE),
    ("labels", [], "replace", Change.REPLACE),
    ("tmpfs", {"/tmp": "rw"}, "update", Change.STATE),
    ("healthcheck", {"tests": ["NONE"]}, "update", Change.STATE),
    ("init", False, "update", Change.STATE),
    ("destroyGraceSeconds", 1, "update", Change.STATE),
])
def test_each_change_is_planned_as_the_provider_would(recordings: dict[str, Recording],
                                                      prop: str, value: object, kind: str,
                                                      change: Change) -> None:
    service = recordings["ci"].named("lucia-ci-service")
    state = provider.read_back(CONTAINER, service.plain)
    changed = {**copy.deepcopy(service.plain), prop: value}
    found = provider.diff(CONTAINER, state, changed)
    assert (found.kind, found.changed) == (kind, {prop: change})


@pytest.mark.parametrize("prop", ["tmpfs", "healthcheck", "init"])
def test_replace_on_changes_makes_state_only_changes_take_effect(
        recordings: dict[str, Recording], prop: str) -> None:
    """The program asks the engine to replace on the three inputs the provider would save
    and never apply; both deploy paths honour replaceOnChanges."""
    service = recordings["ci"].named("lucia-ci-service")
    assert prop in service.replace_on_changes
    state = provider.read_back(CONTAINER, service.plain)
    changed = {**copy.deepcopy(service.plain), prop: {"x": "y"}}
    assert provider.diff(CONTAINER, state, changed, service.replace_on_changes).kind == \
        "replace"


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
@pytest.mark.parametrize("stack", STACKS)
def test_every_property_the_program_sets_is_modelled_and_reads_back_unchanged(
        record_stack: Record, stack: str, preview: bool) -> None:
    """The no-op second `up`: what Read would store equals what the program sends."""
    for resource in record_stack(stack, preview=preview).custom:
        table = provider.props(resource.type)
        assert set(resource.plain) <= set(table), resource.name
        if not preview:
            assert provider.diff(resource.type, provider.read_back(
                resource.type, resource.plain), resource.plain).kind == "unchanged", \
                resource.name


def test_preview_leaves_computed_outputs_unknown(record_stack: Record) -> None:
    preview = record_stack("ci", preview=True)
    service = preview.named("lucia-ci-service")
    assert service.id == ""
    assert service.plain["image"] == provider.UNKNOWN        # the image id is computed
    command = preview.named("lucia-ci-service-pids-limit")
    assert command.plain["triggers"] == [provider.UNKNOWN]   # the container id too
    assert command.plain["create"].endswith("lucia-ci-service")  # known: built from the name
    update = record_stack("ci")
    assert update.named("lucia-ci-service").plain["image"].startswith("sha256:")


def test_every_container_has_a_stop_grace(recordings: dict[str, Recording]) -> None:
    """Without destroy_grace_seconds the provider kills on replace (CF:1085-1098)."""
    for recording in recordings.values():
        for container in recording.of_type(CONTAINER):
            grace = container.plain["destroyGraceSeconds"]
            assert grace >= 5, container.name
            assert container.plain["stopTimeout"] == grace, container.name


# The provider's own lists, copied from its source (not from provider.py), so the table
# cannot drift from them unnoticed: CF:1016-1019 (Update's attrs), CF:997-1013 (must_run),
# and the inputs that are neither ForceNew nor handled by Update.
UPDATE_ATTRS = {"restart", "max_retry_count", "cpu_shares", "memory", "memory_reservation",
                "cpu_set", "memory_swap", "device_read_bps", "device_read_iops",
                "device_write_bps", "device_write_iops", "must_run"}
NEITHER = {"healthcheck", "tmpfs", "init", "rm", "start", "wait", "wait_timeout",
           "destroy_grace_seconds", "attach", "logs", "remove_volumes",
           "container_read_refresh_timeout_milliseconds"}


@pytest.mark.parametrize("prop", list(provider.PROPS[CONTAINER].values()), ids=lambda p: p.name)
def test_container_change_kind_matches_the_provider_source(prop: provider.Prop) -> None:
    expected = Change.UPDATE if prop.tf in UPDATE_ATTRS else \
        Change.STATE if prop.tf in NEITHER else Change.REPLACE
    assert prop.change == expected
    assert provider.diff(CONTAINER, {prop.name: "old"}, {prop.name: "new"}).changed == {
        prop.name: expected}


@pytest.mark.parametrize("type_", [NETWORK, provider.VOLUME])
def test_networks_and_volumes_have_no_update(type_: str) -> None:
    """N: no UpdateContext at all; V: Update handles only swarm cluster volumes."""
    assert {p.change for p in provider.props(type_).values()} == {Change.REPLACE}


def _service(recordings: dict[str, Recording]) -> Any:
    return recordings["swarm"].named("lucia-swarm-service")


@pytest.mark.parametrize(("path", "value", "kind"), [
    ("taskSpec.containerSpec.image", "sha256:" + "1" * 64, "update"),
    ("taskSpec.containerSpec.env.LUCIA_LOG_LEVEL", "DEBUG", "update"),
    ("mode.replicated.replicas", 3, "update"),
    ("taskSpec.containerSpec.labels", [{"label": "x", "value": "y"}], "replace"),
    ("taskSpec.networksAdvanceds", [{"id": "another-network"}], "replace"),
    ("convergeConfig.timeout", "5m", "update"),  # state only: saved, never sent
    ("name", "lucia-swarm-renamed", "replace"),
])
def test_service_change_kind_matches_the_provider_source(
        recordings: dict[str, Recording], path: str, value: Any, kind: str) -> None:
    """S: only name, auth, the container labels, hosts, sysctl and the networks are
    ForceNew; everything else is one ServiceUpdate with the whole spec (SF:169-225)."""
    service = _service(recordings)
    state = provider.read_back(SERVICE, service.plain)
    changed = copy.deepcopy(service.plain)
    *parents, leaf = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    target[leaf] = value
    assert provider.diff(SERVICE, state, changed).kind == kind


def test_service_diff_follows_the_sdk_zero_value_and_set_rules(
        recordings: dict[str, Recording]) -> None:
    """An unset field equals a zero one in the state; sets compare without order; a
    duration the program spells differently from Read's shortDur diffs on every up."""
    service = _service(recordings)
    state = provider.read_back(SERVICE, service.plain)
    same = copy.deepcopy(service.plain)
    same["taskSpec"]["containerSpec"]["mounts"].reverse()
    same["taskSpec"]["containerSpec"]["args"] = []
    assert provider.diff(SERVICE, state, same).kind == "unchanged"
    spelled = copy.deepcopy(service.plain)
    spelled["taskSpec"]["containerSpec"]["stopGracePeriod"] = "60s"
    assert provider.read_back(SERVICE, spelled)["taskSpec"]["containerSpec"][
        "stopGracePeriod"] == "1m"
    assert provider.diff(SERVICE, provider.read_back(SERVICE, spelled), spelled).kind == \
        "update"


def test_secrets_are_auto_named_and_keep_their_name_until_replaced() -> None:
    """B autonaming: an unset name becomes <resource>-<7 characters>; Check keeps the
    state's name while nothing else changes, and draws a new one for a replacement."""
    inputs = {"data": "c2VjcmV0", "labels": [{"label": "io.lucia.stack", "value": "x"}]}
    first = provider.check(SECRET, inputs, "lucia-x-secret-api-key")
    assert first["name"].startswith("lucia-x-secret-api-key-")
    assert len(first["name"]) == len("lucia-x-secret-api-key-") + 7
    assert provider.check(SECRET, inputs, "lucia-x-secret-api-key", prior=first) == first
    replaced = provider.check(SECRET, {**inputs, "data": "b3RoZXI="},
                              "lucia-x-secret-api-key", prior=first)
    assert replaced["name"] != first["name"]
    assert provider.diff(SECRET, first, replaced).kind == "replace"


def test_a_service_field_the_applier_does_not_carry_out_is_refused(
        recordings: dict[str, Recording]) -> None:
    inputs = copy.deepcopy(_service(recordings).plain)
    inputs["taskSpec"]["containerSpec"]["sysctl"] = {"net.core.somaxconn": "1024"}
    with pytest.raises(provider.UnknownProperty, match=r"containerSpec\.sysctl"):
        provider.check(SERVICE, inputs, "lucia-swarm-service")


def test_a_tmpfs_mode_with_sticky_bits_would_update_the_service_every_time(
        recordings: dict[str, Recording]) -> None:
    """SS:274 reads a tmpfs mode back as Mode.Perm(): 0o1777 comes back 0o777, a diff on
    every up; the program leaves the mode to the kernel's default."""
    service = _service(recordings)
    tmpfs = [m for m in service.plain["taskSpec"]["containerSpec"]["mounts"]
             if m["type"] == "tmpfs"]
    assert tmpfs
    assert all("mode" not in (m.get("tmpfsOptions") or {}) for m in tmpfs)
    sticky = copy.deepcopy(service.plain)
    for mount in sticky["taskSpec"]["containerSpec"]["mounts"]:
        if mount["type"] == "tmpfs":
            mount["tmpfsOptions"]["mode"] = 0o1777
    assert provider.diff(SERVICE, provider.read_back(SERVICE, sticky), sticky).kind == \
        "update"


def test_a_network_given_by_name_would_replace_the_service_every_time(
        recordings: dict[str, Recording]) -> None:
    """S:716: Read stores networks by id only, so a name never matches what was read."""
    named = copy.deepcopy(_service(recordings).plain)
    named["taskSpec"]["networksAdvanceds"] = [{"name": "lucia-swarm-net"}]
    assert provider.diff(SERVICE, provider.read_back(SERVICE, named), named).kind == "replace"


def test_unset_optional_computed_service_fields_take_what_read_found(
        recordings: dict[str, Recording]) -> None:
    """S marks runtime, force_update, the restart policy, placement, resources, mode and
    the endpoint spec Optional+Computed: left unset by the program, whatever Read found
    there (the engine's own values) is no diff; set by the program, it is compared."""
    service = _service(recordings)
    state = provider.read_back(SERVICE, service.plain)
    state["taskSpec"]["runtime"] = "container"
    state["taskSpec"]["forceUpdate"] = 3
    state["mode"]["global"] = False
    state["endpointSpec"]["ports"] = []
    state["labels"] = [{"label": "set-by", "value": "the-engine"}]
    inputs = copy.deepcopy(service.plain)
    inputs.pop("labels", None)
    assert provider.diff(SERVICE, state, inputs).kind == "unchanged"
    inputs["taskSpec"]["runtime"] = "plugin"
    assert provider.diff(SERVICE, state, inputs).changed == {"taskSpec": Change.UPDATE}


def test_a_container_read_takes_what_a_living_container_can_change() -> None:
    """CF:750-990 for what `docker update` and `docker rename` change: MiB from bytes,
    -1 swap passed through, NanoCpus as the provider's decimal string, a stopped container
    must_run=false."""
    attrs = {"Name": "/lucia-ci-renamed", "State": {"Running": False},
             "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                            "Memory": 700 * 2**20, "MemorySwap": -1,
                            "MemoryReservation": 0, "CpuShares": 512, "CpusetCpus": "0",
                            "NanoCpus": 1_500_000_000}}
    assert reads.read_container(attrs) == {
        "name": "lucia-ci-renamed", "restart": "always", "maxRetryCount": 0, "memory": 700,
        "memorySwap": -1, "memoryReservation": 0, "cpuShares": 512, "cpuSet": "0",
        "cpus": "1.5", "mustRun": False}
    running = {**attrs, "State": {"Running": True}}
    assert "mustRun" not in reads.read_container(running)
    state = {"name": "lucia-ci-service", "memory": 512, "cpuShares": 0, "restart": "no"}
    assert provider.diff(CONTAINER, {**state, **reads.read_container(running)}, {
        **state, "memorySwap": -1, "cpuSet": "0", "cpus": "1.5"}).changed == {
        "name": Change.REPLACE, "memory": Change.UPDATE, "cpuShares": Change.UPDATE,
        "restart": Change.UPDATE}


@pytest.mark.parametrize("role", ["service", "redis"])
def test_read_service_of_the_spec_the_applier_sends_plans_no_change(
        recordings: dict[str, Recording], role: str) -> None:
    """Engine-free: the ServiceSpec services.spec sends, as Docker 20.10's inspect gives it
    back (Runtime, ForceUpdate, Isolation and an empty Reservations added, the mode under
    `Replicated`, the endpoint), read through reads.read_service, is no diff against the
    program; a hand change to it is one. tests/swarm holds the same against the engine."""
    from lucia_deploy import services  # the engine half; program tests import it lazily
    service = recordings["swarm"].named(f"lucia-swarm-{role}")
    sent = services.spec(service.checked)
    task = copy.deepcopy(dict(sent["task_template"]))
    task.update(ForceUpdate=0, Runtime="container")
    task["Resources"]["Reservations"] = {}
    task["ContainerSpec"]["Isolation"] = "default"
    replicas = sent["mode"]["replicated"]["Replicas"]
    engine = {"Spec": {"Name": sent["name"], "Labels": sent["labels"], "TaskTemplate": task,
                       "Mode": {"Replicated": {"Replicas": replicas}},
                       "UpdateConfig": sent["update_config"],
                       "RollbackConfig": sent["rollback_config"],
                       "EndpointSpec": dict(sent["endpoint_spec"])},
              "Endpoint": {"Spec": dict(sent["endpoint_spec"])}}

    def refreshed() -> dict[str, Any]:
        """As Applier.refresh: Read's fields over the state (convergeConfig is state
        only, never read back)."""
        return {**provider.read_back(SERVICE, service.checked), **reads.read_service(engine)}

    assert provider.diff(SERVICE, refreshed(), service.checked).kind == "unchanged"
    task["RestartPolicy"]["Condition"] = "any"
    assert provider.diff(SERVICE, refreshed(), service.checked).changed == {
        "taskSpec": Change.UPDATE}
