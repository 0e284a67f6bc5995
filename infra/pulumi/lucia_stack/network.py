"""The stack's own network (CIS 5.30: never the default docker0 bridge, nor Swarm's
ingress): a bridge for the container engine, an attachable overlay for the swarm engine
(its services, and the edge and simulators, which are plain containers, share it)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from lucia_stack.hardening import label_map


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, stack: str, overlay: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lucia:stack:Network", name, None, opts)
        labels = [docker.NetworkLabelArgs(label=k, value=v)
                  for k, v in label_map(project, stack, "network").items()]
        # attachable is set only on the overlay: a bridge keeps exactly the inputs it had.
        self.network = docker.Network(
            f"{name}-net",
            docker.NetworkArgs(name=f"{name}-net", driver="overlay", attachable=True,
                               labels=labels) if overlay else
            docker.NetworkArgs(name=f"{name}-net", driver="bridge", labels=labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = self.network.name
        self.id = self.network.id
        self.register_outputs({"name": self.name})
