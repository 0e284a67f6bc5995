"""Prometheus metrics, one registry per app so tests and apps never share counters.

With more than one worker process (lucia/workers.py) prometheus-client runs in its
multiprocess mode: PROMETHEUS_MULTIPROC_DIR is set before it is first imported, each
worker writes its values to its own files there, and /metrics, whichever worker answers,
reads them all: counters and histograms summed across workers (a worker that exited still
counts, so totals never drop), each gauge merged as its `multiprocess_mode` says. A new
Gauge must choose one: "mostrecent" for a figure any worker may measure (as the storage
gauges below), "livesum" for something each worker holds (open streams, say)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LLM_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Read by prometheus-client itself when first imported; lucia/workers.py sets it.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._exposed = self.registry
        if directory := os.environ.get(MULTIPROCESS_ENV):
            # Every worker's values, read from their files at each scrape.
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=directory)
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.http_requests = Counter(
            "lucia_http_requests_total", "HTTP requests by route template and status.",
            ["method", "route", "status"], registry=self.registry)
        self.http_latency = Histogram(
            "lucia_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=_HTTP_BUCKETS, registry=self.registry)
        self.llm_latency = Histogram(
            "lucia_llm_request_duration_seconds", "LLM call latency.",
            ["provider", "operation"], buckets=_LLM_BUCKETS, registry=self.registry)
        self.llm_errors = Counter(
            "lucia_llm_errors_total", "LLM calls that failed, by kind (timeout, unavailable).",
            ["provider", "operation", "kind"], registry=self.registry)
        self.redis_errors = Counter(
            "lucia_redis_errors_total", "Redis operations that failed.",
            ["operation"], registry=self.registry)
        self.routing_decisions = Counter(
            "lucia_routing_decisions_total", "Agents chosen by the orchestrator.",
            ["agent", "method"], registry=self.registry)
        self.home_assistant_errors = Counter(
            "lucia_home_assistant_errors_total", "Home Assistant calls that failed.",
            ["operation"], registry=self.registry)
        # Storage (lucia/capacity.py): read fresh for each scrape, within its check period.
        # Any worker may measure them; the newest measurement is the one exposed.
        self.redis_memory_used = Gauge(
            "lucia_redis_memory_used_bytes", "Redis used_memory.", registry=self.registry,
            multiprocess_mode="mostrecent")
        self.redis_memory_max = Gauge(
            "lucia_redis_memory_max_bytes", "Redis maxmemory (0: unlimited).",
            registry=self.registry, multiprocess_mode="mostrecent")
        self.redis_keys = Gauge(
            "lucia_redis_keys", "Live sessions and tasks in Redis.", ["kind"],
            registry=self.registry, multiprocess_mode="mostrecent")
        self.storage_state = Gauge(
            "lucia_storage_state", "1 for the current storage state (Ok, High, Full, "
            "Unknown), 0 for the others.", ["state"], registry=self.registry,
            multiprocess_mode="mostrecent")
        self.storage_refusals = Counter(
            "lucia_storage_refusals_total", "New sessions refused because storage was High or "
            "Full.", registry=self.registry)
        self.sessions_pruned = Counter(
            "lucia_sessions_pruned_total", "Sessions deleted by the prune-idle storage policy.",
            registry=self.registry)
        # Streaming (POST /api/chat with Accept: text/event-stream, A2A message/stream).
        self.llm_time_to_first_token = Histogram(
            "lucia_llm_time_to_first_token_seconds", "From a streamed LLM call's start to "
            "its first token.", ["provider"], buckets=_LLM_BUCKETS, registry=self.registry)
        self.stream_first_token = Histogram(
            "lucia_stream_first_token_seconds", "From a streamed turn's start to the first "
            "piece of its reply on the wire (chat: the first token event; a2a: the first "
            "artifact update), by transport.", ["transport"], buckets=_LLM_BUCKETS,
            registry=self.registry)
        self.streams = Counter(
            "lucia_streams_total", "Streamed turns by transport and outcome (completed; "
            "failed: an error event ended it; disconnected: the client went away; "
            "cancelled: the server stopped it).",
            ["transport", "outcome"], registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one HTTP request. The labelled children are kept per (method,
        route, status), so a request looks them up once, not through `labels()` (its lock
        and label checks) twice."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.http_requests.labels(method, route, str(status)),
                        self.http_latency.labels(method, route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self._exposed)
