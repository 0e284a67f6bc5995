"""The CrossGuard pack: `pulumi up --policy-pack infra/pulumi/policies`.

The rules live in lucia_policies/rules.py, which the tests also call directly on the
inputs the mocks captured, so the CLI and the tests enforce the same code."""

from lucia_policies.pack import policy_pack

policy_pack()
