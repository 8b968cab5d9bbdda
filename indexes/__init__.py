"""Dense (FAISS, exact flat) and sparse (inverted) indexes. Imports ``retrieval`` only.

Every index follows ``retrieval.protocols.Index``: ``create(path=None, **config)``,
``open(path)``, ``add`` (upsert), ``delete``, ``search``, ``search_batch``, ``save``, ``len``.
faiss is imported only when a ``FaissIndex`` is made (extra ``retrieval-toolkit[faiss]``).
"""

from __future__ import annotations

from indexes.dense import METRICS, Metric
from indexes.exact import ExactIndex
from indexes.faiss_config import FAISS_KINDS, FaissConfig, FaissKind
from indexes.faiss_index import FaissIndex
from indexes.sparse import SparseIndex

__all__ = [
    "FAISS_KINDS",
    "METRICS",
    "ExactIndex",
    "FaissConfig",
    "FaissIndex",
    "FaissKind",
    "Metric",
    "SparseIndex",
]
