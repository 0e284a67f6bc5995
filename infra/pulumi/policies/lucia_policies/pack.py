"""The rules as CrossGuard policies (mandatory), and `evaluate`, which runs those same
policy objects the way the policy analyzer does: each ResourceValidationPolicy's
`validate` with ResourceValidationArgs per resource, each StackValidationPolicy's with
StackValidationArgs, props deserialized as the analyzer deserializes them (secrets
unwrapped, unknowns checked) and a `report_violation` that collects.

The deploy tool calls `evaluate` on the provider-checked inputs it recorded; `pulumi up
--policy-pack infra/pulumi/policies` serves the same policies to the engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyPack,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from lucia_policies.rules import RULES, STACK_RULES, Rule, StackResource, StackRule, Violation

PACK_NAME = "lucia-hardening"
_ALL_RULES: tuple[Rule | StackRule, ...] = (*RULES, *STACK_RULES)
CIS_IDS = {rule.policy_name: rule.cis_id for rule in _ALL_RULES}


class _Description(TypedDict):
    """The keyword arguments every policy of the pack is constructed with."""

    name: str
    description: str
    enforcement_level: EnforcementLevel
    remediation_steps: str


def _described(rule: Rule | StackRule) -> _Description:
    """What every policy of the pack says of itself: name, CIS title, mandatory, the fix."""
    return {"name": rule.policy_name,
            "description": f"CIS Docker Benchmark v1.6.0 {rule.cis_id}: {rule.title}",
            "enforcement_level": EnforcementLevel.MANDATORY,
            "remediation_steps": rule.remediation}


def _policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != rule.resource_type:
            return
        for message in rule.check(dict(args.props)):
            report_violation(message, None)

    return ResourceValidationPolicy(validate=validate, **_described(rule))


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [StackResource(r.resource_type, r.name, dict(r.props), tuple(
            str(d.props.get("name") or d.name) for d in r.dependencies))
            for r in args.resources]
        for message in rule.check(resources):
            report_violation(message, None)

    return StackValidationPolicy(validate=validate, **_described(rule))


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [*(_policy(rule) for rule in RULES), *(_stack_policy(rule) for rule in STACK_RULES)]


def policy_pack() -> PolicyPack:
    """Construct the pack; PolicyPack starts serving the engine, so only __main__ calls it."""
    served: list[Policy] = list(policies())
    return PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY,
                      policies=served)


@dataclass(frozen=True)
class Target:
    """One resource as the engine describes it to a policy pack."""

    resource_type: str
    name: str
    urn: str
    props: dict[str, Any]        # provider-checked inputs, serialized (secrets wrapped)
    dependencies: list[str] = field(default_factory=list)  # urns
    parent: str = ""


_OPTIONS = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None,
                                 aliases=[], custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                 additional_secret_outputs=[])


def _remediation(policy: Policy) -> str:
    return str(getattr(policy, "remediation_steps", "") or "")


def evaluate(targets: Sequence[Target]) -> list[Violation]:
    """Every violation the pack's policies report for these resources."""
    found: list[Violation] = []
    props = {t.urn: deserialize_properties(t.props) for t in targets}
    for policy in policies():
        cis_id = CIS_IDS[policy.name]

        def collect(message: str, urn: str | None = None, *, _policy: Policy = policy,
                    _cis: str = cis_id) -> None:
            found.append(Violation(_policy.name, _cis, urn or "stack", message,
                                   _remediation(_policy)))

        if isinstance(policy, StackValidationPolicy):
            by_urn: dict[str, PolicyResource] = {}
            for t in targets:
                by_urn[t.urn] = PolicyResource(t.resource_type, props[t.urn], t.urn, t.name,
                                               _OPTIONS, None, None, [], {})
            for t in targets:
                by_urn[t.urn].dependencies.extend(by_urn[u] for u in t.dependencies
                                                  if u in by_urn)
            policy.validate(StackValidationArgs(list(by_urn.values())), collect)
            continue
        for t in targets:
            args = ResourceValidationArgs(t.resource_type, unknown_checking_proxy(props[t.urn]),
                                          t.urn, t.name, _OPTIONS, None)

            def report(message: str, urn: str | None = None, *, _t: Target = t,
                       _policy: Policy = policy, _cis: str = cis_id) -> None:
                found.append(Violation(_policy.name, _cis, _t.name, message,
                                       _remediation(_policy)))
            try:
                policy.validate(args, report)
            except UnknownValueError:
                continue  # the analyzer skips (advisory) a policy that meets an unknown
    return found
