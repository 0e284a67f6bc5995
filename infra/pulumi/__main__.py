"""The lucia stack, as `pulumi up` runs it (Pulumi.yaml: main: infra/pulumi/)."""

import pulumi

from lucia_stack import config
from lucia_stack.program import build

for name, value in build(config.load()).items():
    pulumi.export(name, value)
