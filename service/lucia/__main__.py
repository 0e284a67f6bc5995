"""`python -m lucia`: read the environment once, validate it, serve."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from lucia import __version__
from lucia.app import create_app
from lucia.logs import configure_logging
from lucia.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"lucia: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.library_log_level)
    logging.getLogger("lucia").info(
        "starting", extra={"version": __version__, "port": settings.port,
                           "llmProvider": settings.chat_model.provider.value,
                           "homeAssistant": settings.home_assistant_configured,
                           "apiKey": settings.api_key is not None})
    loop = asyncio.new_event_loop()
    loop.set_debug(settings.build_configuration == "Debug")
    # run_app handles SIGTERM: stop accepting, let in-flight requests finish within
    # shutdown_timeout, then run the cleanup contexts (each closes its client).
    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                shutdown_timeout=settings.shutdown_timeout_seconds, access_log=None,
                print=None, handle_signals=True, loop=loop)


if __name__ == "__main__":
    main()
