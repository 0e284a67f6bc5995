"""Wrap the rules as CrossGuard ResourceValidationPolicies (mandatory)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from lucia_policies.rules import RULES, Rule


def _policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != rule.resource_type:
            return
        for message in rule.check(args.props):
            report_violation(f"{message} (fix: {rule.remediation})", None)

    return ResourceValidationPolicy(
        name=rule.policy_name,
        description=f"CIS Docker Benchmark v1.6.0 {rule.cis_id}: {rule.title}",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def policies() -> list[ResourceValidationPolicy]:
    return [_policy(rule) for rule in RULES]


def policy_pack() -> PolicyPack:
    """Construct the pack; PolicyPack starts serving the engine, so only __main__ calls it."""
    return PolicyPack(name="lucia-hardening",
                      enforcement_level=EnforcementLevel.MANDATORY,
                      policies=policies())
