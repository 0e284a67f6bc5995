"""The stack under test, as the gates see it: its outputs and secrets (.state/<stack>/,
lucia_deploy.stacks), its profile (lucia_deploy.profiles), and what its containers run
(`docker inspect` through the engine)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from lucia_deploy import profiles, stacks
from lucia_deploy.checklist.record import Image

# Components whose container and image the outputs name (`<component>_container`).
COMPONENTS = ("service", "redis", "sim_ha", "sim_llm")


@dataclass(frozen=True)
class Target:
    stack: str
    outputs: dict[str, Any]
    api_key: str
    profile: str
    profile_why: str

    @classmethod
    def load(cls, stack: str) -> Target:
        """Raises stacks.StackError (not up, unreadable state) or ValueError (a bad
        LUCIA_PROFILE)."""
        outputs = stacks.read_outputs(stack)
        profile, why = profiles.choose(outputs)
        return cls(stack, outputs, stacks.stack_secrets(stack).get("apiKey", ""), profile,
                   why)

    @property
    def url(self) -> str:
        url: str = self.outputs["service_url"]
        return url

    @property
    def live(self) -> bool:
        return self.profile == profiles.LIVE

    def environment(self, engine: Callable[[], docker.DockerClient] = docker.from_env,
                    ) -> dict[str, str]:
        """What every block may use: the variables `Before you start` exports. The
        containers by their labels, so a swarm stack's task containers are found too."""
        def running(component: str) -> list[str]:
            try:
                found = engine().containers.list(filters={"label": [
                    f"io.lucia.stack={self.stack}", f"io.lucia.component={component}"]})
            except docker.errors.DockerException:
                return []  # no engine: the blocks that need a container fail and say so
            return sorted(str(c.name) for c in found)
        return {"STACK": self.stack, "LUCIA_URL": self.url, "LUCIA_KEY": self.api_key,
                "SERVICE_CONTAINERS": " ".join(running("service")),
                "REDIS_CONTAINER": next(iter(running("redis")), "")}


def _image_of(component: str, outputs: dict[str, Any]) -> str:
    key = "sim_image" if component.startswith("sim_") else f"{component}_image"
    reference: str = outputs.get(key, "")
    return reference


def images(outputs: dict[str, Any],
           engine: Callable[[], docker.DockerClient] = docker.from_env) -> list[Image]:
    """Each deployed container's image: the reference the outputs name, and the id,
    version and revision the engine says it runs. A question the engine cannot answer
    is recorded as the problem, never a reason to stop the run."""
    found = [Image(component.replace("_", "-"), outputs[f"{component}_container"],
                   _image_of(component, outputs))
             for component in COMPONENTS if f"{component}_container" in outputs]
    if not found:
        return found
    try:
        client = engine()
    except docker.errors.DockerException as exc:
        for image in found:
            image.problem = f"the Docker engine is not reachable ({exc})"
        return found
    for image in found:
        try:
            container = client.containers.get(image.container)
            image.image_id = container.attrs.get("Image", "")
            details = client.images.get(image.image_id).attrs
        except docker.errors.DockerException as exc:
            image.problem = str(exc)
            continue
        labels = (details.get("Config") or {}).get("Labels") or {}
        image.version = labels.get("org.opencontainers.image.version", "")
        image.revision = labels.get("org.opencontainers.image.revision", "")
        image.created = details.get("Created", "")
    return found
