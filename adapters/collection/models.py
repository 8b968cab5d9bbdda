"""Loaded models, cached per process: a notebook or a test that indexes and then searches
loads each model once."""

from __future__ import annotations

import threading
from typing import Any

_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def load_model(model: str, device: str = "auto") -> Any:
    """The ``encoders.LLM`` for ``model`` on ``device`` (loaded on first use)."""
    from encoders import LLM

    key = (model, device)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = LLM(model, device=device)
        return _CACHE[key]


def clear_models() -> None:
    """Forget cached models (frees their memory)."""
    with _LOCK:
        _CACHE.clear()
