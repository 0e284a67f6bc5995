"""Which verification profile a stack gets (`make verify`), from what its outputs say it
has.

- **full**: the stack publishes its Home Assistant and LLM simulators and its service
  uses both (dev, ci; the `uses_simulators` output), so the gates may drive real side
  effects against them.
- **live**: anything else (homelab, staging): a real home and a real LLM. Every chat or
  A2A turn a gate sends carries `X-Lucia-Dry-Run: true`, so no device is touched, and
  every session a gate creates is deleted.

`LUCIA_PROFILE=live` forces the live profile on any stack (to prove it where simulators
run); full cannot be forced on a stack without simulators."""

from __future__ import annotations

import os
from typing import Any

FULL, LIVE = "full", "live"
DRY_RUN = {"X-Lucia-Dry-Run": "true"}


def choose(outputs: dict[str, Any]) -> tuple[str, str]:
    """(profile, why)."""
    has_simulators = "sim_ha_url" in outputs and "sim_llm_url" in outputs \
        and outputs.get("uses_simulators") is True
    forced = os.environ.get("LUCIA_PROFILE", "")
    if forced not in ("", FULL, LIVE):
        raise ValueError(f"LUCIA_PROFILE must be {FULL} or {LIVE}, not {forced!r}")
    if forced == LIVE:
        return LIVE, "LUCIA_PROFILE=live was asked for"
    if has_simulators:
        return FULL, ("the stack publishes its simulators and its service uses them "
                      "(sim_ha_url, sim_llm_url, uses_simulators)")
    if forced == FULL:
        raise ValueError("LUCIA_PROFILE=full needs a stack that publishes its simulators")
    return LIVE, ("the service does not use published simulators for both Home Assistant "
                  "and the LLM, so every turn is a dry run and every gate session is deleted")
