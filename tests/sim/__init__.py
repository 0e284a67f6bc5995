"""Simulators of lucia's external dependencies: Home Assistant and an OpenAI-compatible
LLM. Each is an aiohttp app that tests mount in-process and that runs as a process
(`python -m tests.sim.homeassistant --port 8123`) or a container."""
