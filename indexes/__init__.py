"""Dense (FAISS, exact flat), sparse (inverted) and lexical (BM25) indexes. Imports
``retrieval`` only.

Every index follows ``retrieval.protocols.Index``: ``create(path=None, **config)``,
``open(path)``, ``add`` (upsert), ``delete``, ``search``, ``search_batch``, ``save``, ``len``.
Names load lazily (``retrieval.lazy``): ``import indexes`` imports neither torch nor faiss;
faiss is imported only when a ``FaissIndex`` is made (extra ``retrieval-toolkit[faiss]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrieval.lazy import exports_by_name, load_export

if TYPE_CHECKING:
    from indexes.analysis import Analyzer
    from indexes.bm25 import BM25Index
    from indexes.dense import METRICS, Metric
    from indexes.exact import ExactIndex
    from indexes.faiss_config import FAISS_KINDS, FaissConfig, FaissKind
    from indexes.faiss_index import FaissIndex
    from indexes.sparse import SparseIndex

_EXPORTS = exports_by_name(
    {
        "indexes.analysis": ("Analyzer",),
        "indexes.bm25": ("BM25Index",),
        "indexes.dense": ("METRICS", "Metric"),
        "indexes.exact": ("ExactIndex",),
        "indexes.faiss_config": ("FAISS_KINDS", "FaissConfig", "FaissKind"),
        "indexes.faiss_index": ("FaissIndex",),
        "indexes.sparse": ("SparseIndex",),
    }
)

if not TYPE_CHECKING:  # hidden from type checkers: a module __getattr__ would make typos Any

    def __getattr__(name: str) -> Any:
        return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "FAISS_KINDS",
    "METRICS",
    "Analyzer",
    "BM25Index",
    "ExactIndex",
    "FaissConfig",
    "FaissIndex",
    "FaissKind",
    "Metric",
    "SparseIndex",
]
