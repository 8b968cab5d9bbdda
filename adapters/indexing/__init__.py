"""Document indexing for the CLI and notebooks: sources -> chunks -> vectors -> an index folder.

    from adapters.indexing import Searcher, index_sources

    report = index_sources(["docs/"], "my-index")       # incremental and resumable
    hits = Searcher.open("my-index").search("how do I install it?", k=5)
    hits[0].id, hits[0].score, hits[0].metadata["source"], hits[0].metadata["text"]

``retrieval index | search | info`` are thin wrappers over these functions.
"""

from __future__ import annotations

from adapters.indexing.build import IndexReport, index_sources
from adapters.indexing.encode import KINDS, Embedder, Kind
from adapters.indexing.info import index_info
from adapters.indexing.models import load_model
from adapters.indexing.search import Searcher
from adapters.indexing.store import DocumentIndex, IndexSettings

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
