"""`python -m lucia`: read the environment once, validate it, serve with as many worker
processes as the CPU limit allows (lucia/workers.py), or from this process for one."""

from __future__ import annotations

import asyncio
import logging
import sys

from lucia import __version__
from lucia.logs import configure_logging
from lucia.settings import SettingsError, load_settings
from lucia.workers import serve, workers_for


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"lucia: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.library_log_level)
    workers = workers_for(settings)
    logging.getLogger("lucia").info(
        "starting", extra={"version": __version__, "port": settings.port,
                           "workers": workers,
                           "llmProvider": settings.chat_model.provider.value,
                           "homeAssistant": settings.home_assistant_configured,
                           "apiKey": settings.api_key is not None})
    if workers > 1:
        serve(settings, workers)
        return
    # One worker: this process serves, as a plain aiohttp app (imported here, so that a
    # multi-worker run imports prometheus-client only after choosing its mode).
    from aiohttp import web

    from lucia.app import create_app

    loop = asyncio.new_event_loop()
    loop.set_debug(settings.build_configuration == "Debug")
    # run_app handles SIGTERM: stop accepting, let in-flight requests finish within
    # shutdown_timeout, then run the cleanup contexts (each closes its client).
    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                shutdown_timeout=settings.shutdown_timeout_seconds, access_log=None,
                print=None, handle_signals=True, loop=loop)


if __name__ == "__main__":
    main()
