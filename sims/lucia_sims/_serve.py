"""Run a simulator app as a process: `--host`, `--port`, stop on SIGTERM."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from aiohttp import web


def serve(make_app: Callable[[], web.Application], default_port: int, description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None)
