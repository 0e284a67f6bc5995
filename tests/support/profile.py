"""The verification profiles, as the deploy tool's `make verify` chooses them."""

from lucia_deploy.profiles import DRY_RUN, FULL, LIVE, choose

__all__ = ["DRY_RUN", "FULL", "LIVE", "choose"]
