"""The 0.1 import path of the indexing functions; they live in ``adapters.collection``."""

from __future__ import annotations

from adapters.collection import KINDS, IndexReport, Kind, index_sources, load_model
from adapters.collection import collection_info as index_info

__all__ = ["KINDS", "IndexReport", "Kind", "index_info", "index_sources", "load_model"]
