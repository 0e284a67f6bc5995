"""The stack's own bridge network (CIS 5.30: never the default docker0 bridge)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from lucia_stack.hardening import label_map


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, stack: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Network", name, None, opts)
        self.network = docker.Network(
            f"{name}-net",
            name=f"{name}-net",
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label=k, value=v)
                    for k, v in label_map(project, stack, "network").items()],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = self.network.name
        self.register_outputs({"name": self.name})
