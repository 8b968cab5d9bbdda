"""Server settings: one frozen dataclass, filled from ``retrieval serve`` flags or by hand."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.errors import ConfigError


@dataclass(frozen=True)
class ServerConfig:
    """Operational limits and security settings of one server (models are passed apart)."""

    api_key: str | None = None
    """Bearer token required on every route but ``/health``; None = open (loopback use)."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted; bigger bodies get 413 before any parsing."""
    max_inputs: int = 2048
    """Most inputs (texts, documents, pairs) in one request, OpenAI's documented cap."""
    max_queue_size: int = 256
    """Requests waiting per model beyond the one running; more get 503 + ``Retry-After``."""
    max_batch_tokens: int = 16384
    """Token budget of one micro-batch merged from concurrent requests."""
    max_batch_requests: int = 64
    """Most requests merged into one micro-batch."""
    request_timeout_s: float = 60.0
    """Seconds a request may wait and run before it is cancelled with 504."""
    retry_after_s: int = 1
    """``Retry-After`` seconds sent with 503."""
    index_dir: str | None = None
    """Folder of a saved index served by ``POST /v1/search`` (``--index``)."""
    index_text_field: str = "text"
    """Metadata key holding a hit's text, read when ``/v1/search`` reranks hits."""

    def __post_init__(self) -> None:
        for name in (
            "max_body_bytes",
            "max_inputs",
            "max_queue_size",
            "max_batch_tokens",
            "max_batch_requests",
            "retry_after_s",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                msg = f"ServerConfig.{name} must be a positive integer, got {value!r}."
                raise ConfigError(msg)
        if self.request_timeout_s <= 0:
            msg = f"ServerConfig.request_timeout_s must be > 0, got {self.request_timeout_s!r}."
            raise ConfigError(msg)
