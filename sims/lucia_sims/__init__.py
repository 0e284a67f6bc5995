"""Simulators of lucia's external dependencies: Home Assistant and an OpenAI-compatible
LLM. Each is an aiohttp app that tests mount in-process and that runs as a process
(`python -m lucia_sims.homeassistant --port 8123`) or a container (sims/Dockerfile).
They are test doubles: the program deploys them only for stacks that set `lucia:simulators`."""
