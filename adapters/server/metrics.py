"""Prometheus metrics of one server, in a registry of its own (two apps never collide)."""

from __future__ import annotations

from typing import Any

from retrieval.errors import MissingDependencyError

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536)


class Metrics:
    """Requests, latency, tokens, queue depth and micro-batch sizes."""

    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError as err:  # pragma: no cover - the server extra installs it
            msg = "prometheus-client"
            raise MissingDependencyError(msg, "server") from err
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.requests = prom.Counter(
            "retrieval_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.latency = prom.Histogram(
            "retrieval_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = prom.Counter(
            "retrieval_prompt_tokens", "Prompt tokens processed", ["model"], registry=r
        )
        self.queue_depth = prom.Gauge(
            "retrieval_queue_depth", "Requests waiting for the model", ["model"], registry=r
        )
        self.rejected = prom.Counter(
            "retrieval_rejected", "Requests refused with 503 (queue full)", ["model"], registry=r
        )
        self.batch_requests = prom.Histogram(
            "retrieval_batch_requests",
            "Requests merged per micro-batch",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_tokens = prom.Histogram(
            "retrieval_batch_tokens",
            "Tokens per micro-batch",
            ["model"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        prom: Any = self._prom
        return prom.generate_latest(self.registry), prom.CONTENT_TYPE_LATEST
