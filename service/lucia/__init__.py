"""lucia: an aiohttp agent host for Home Assistant."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lucia")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
