"""Structured JSON logs; every line written inside a request carries its request id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from aiohttp.http_exceptions import HttpProcessingError

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := request_id_var.get():
            entry["requestId"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ClientGarbageFilter(logging.Filter):
    """aiohttp logs a request it cannot parse (a NUL in a header, a bad request line) as
    ERROR "Error handling request", though it answers the client 400 and nothing on the
    server failed. Such a line is the client's mistake: log it as WARNING, so ERROR keeps
    meaning a fault of ours (the gates require a log with no unexplained ERROR)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and 400 <= (error.code or 0) < 500:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = f"malformed HTTP request, answered 400: {record.msg}"
        return True


def configure_logging(level: str, library_level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDKs log request URLs and retries at INFO and whole wire exchanges at DEBUG: they
    # get their own level (WARNING unless asked), so LUCIA_LOG_LEVEL=DEBUG stays readable.
    # The openai SDK's HTTP client is httpx2 (over httpcore2) in the versions locked now:
    # without those names here, every LLM call logged an INFO line of its own.
    for noisy in ("httpx", "httpx2", "openai", "httpcore", "httpcore2", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(library_level)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientGarbageFilter) for f in server.filters):
        server.addFilter(ClientGarbageFilter())
