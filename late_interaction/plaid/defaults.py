"""Search depth chosen from the index: how many candidates PLAID keeps when ``ndocs`` is not
given (``PlaidConfig.ndocs = None``, the default).

The rule. Centroid scores (stages 1-3 of ``search.py``) see a document only through the
centroids of its tokens, so the documents holding a token in the same cell as a query
token's match are indistinguishable to them for that token: only the final stage, MaxSim on
decoded or side-store tokens, can order them. So the final stage must score at least as many
documents as a query token's probed cell holds, and that number grows with the index (more
documents per centroid), not with ``k``. Its expectation is the pair-weighted mean list
length ``sum(n_c**2) / sum(n_c)`` over the inverted lists (``n_c``: documents holding a token
in cell ``c``): a query token lands in a cell about as often as documents' tokens do, so
crowded cells weigh in proportion. The final stage scores that many documents (at least
``k``), the approximate stage before it keeps four times as many (PLAID's ratio of
``ndocs`` to decompressed documents), and never fewer than the fixed ``MIN_NDOCS`` that
served small indexes before (64 exactly scored documents cost little).

The other knobs do not depend on the corpus size and stay fixed: ``ncells = 4`` probes per
query token supply, even for a one-token query, about four lists, i.e. the ``ndocs`` pool
this rule asks for; ``centroid_score_threshold = 0.4`` is a cosine for unit-length tokens
(ColBERT's), the same at any size.

Measured (BENCHMARKS.md): 35.5 documents per probed cell at 1M synthetic tokens, 116 on
Cranfield MiniLM tokens (1,400 long documents), ~300 at 10M synthetic tokens, where the old
fixed 256 candidates (64 exactly scored) gave recall@10 0.40 and 1024 gave 0.997.
"""

from __future__ import annotations

import math

import numpy as np

MIN_NDOCS = 256
"""Floor of the derived ``ndocs`` (the fixed default before it was derived)."""
POOL_PER_EXACT = 4
"""Documents kept by the approximate stage per document scored exactly (PLAID's 4)."""


def docs_per_probed_cell(sizes: np.ndarray) -> float:
    """Expected documents in the inverted list of the cell a query token probes:
    ``sum(n_c**2) / sum(n_c)`` over list lengths ``sizes`` (0 when all are empty)."""
    sizes = np.asarray(sizes, np.float64)
    total = sizes.sum()
    return float((sizes**2).sum() / total) if total else 0.0


def derived_ndocs(per_cell: float, k: int) -> int:
    """``ndocs`` for a search of ``k`` results on an index with ``per_cell`` expected
    documents per probed cell: ``POOL_PER_EXACT`` times the documents to score exactly,
    ``max(k, per_cell)``, and at least ``MIN_NDOCS``."""
    exact = max(k, math.ceil(per_cell))
    return max(MIN_NDOCS, POOL_PER_EXACT * exact)
