"""The 0.1 import path of the indexing API; everything lives in ``adapters.collection``."""

from __future__ import annotations

from adapters.collection import (
    KINDS,
    DocumentIndex,
    Embedder,
    IndexReport,
    IndexSettings,
    Kind,
    Searcher,
    index_info,
    index_sources,
    load_model,
)

__all__ = [
    "KINDS",
    "DocumentIndex",
    "Embedder",
    "IndexReport",
    "IndexSettings",
    "Kind",
    "Searcher",
    "index_info",
    "index_sources",
    "load_model",
]
