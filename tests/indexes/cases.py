"""Every index implementation under test, with synthetic data of the right kind.

A ``Case`` knows how to create / open its index and how to make documents and queries, plus
a brute-force scorer used as ground truth (numpy, independent of the index code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexes import ExactIndex, FaissIndex, SparseIndex
from retrieval.types import SparseEmbeddings

DIM = 32
VOCAB = 500


def clustered(n: int, dim: int, seed: int, n_clusters: int = 20, spread: float = 0.3) -> Any:
    """``(n, dim)`` float32 points around ``n_clusters`` random centres (fixed by ``seed``)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(12345).normal(size=(n_clusters, dim))
    points = centres[rng.integers(0, n_clusters, n)] + spread * rng.normal(size=(n, dim))
    return points.astype(np.float32)


def manifold(n: int, dim: int, seed: int, n_clusters: int = 30, latent: int = 8) -> Any:
    """Clusters with low intrinsic dimension (an ``latent``-d spread projected to ``dim``, plus
    light noise): nearest neighbours are well defined, as with real embeddings."""
    shared = np.random.default_rng(54321)
    centres = shared.normal(size=(n_clusters, dim))
    basis = shared.normal(size=(latent, dim)) / np.sqrt(latent)
    rng = np.random.default_rng(seed)
    spread = rng.normal(size=(n, latent)) @ basis
    points = centres[rng.integers(0, n_clusters, n)] + spread + 0.05 * rng.normal(size=(n, dim))
    return points.astype(np.float32)


def random_sparse(n: int, seed: int, nnz: int = 12, vocab: int = VOCAB) -> SparseEmbeddings:
    """``n`` sparse vectors with ``nnz`` distinct positive weights each, Zipf-like terms."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab + 1)
    weights /= weights.sum()
    items = []
    for _ in range(n):
        idx = rng.choice(vocab, size=nnz, replace=False, p=weights)
        items.append((idx, rng.random(nnz).astype(np.float32) + 0.1))
    return SparseEmbeddings.from_items(items, vocab)


def dense_truth(queries: np.ndarray, docs: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """``(n_q, n_docs)`` exact scores (higher is better) computed in float64."""
    q, d = queries.astype(np.float64), docs.astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
    if metric == "l2":
        return -((q[:, None, :] - d[None, :, :]) ** 2).sum(-1)
    return q @ d.T


def sparse_to_dense(sparse: SparseEmbeddings) -> np.ndarray:
    out = np.zeros((len(sparse), sparse.vocab_size), np.float64)
    for row, (idx, val) in enumerate(sparse):
        out[row, idx] = val
    return out


@dataclass(frozen=True)
class Case:
    """One index implementation plus matching synthetic data."""

    name: str
    create: Callable[[Path | None], Any]
    open: Callable[[Path], Any]
    docs: Callable[[int, int], Any]
    """``(n, seed)`` -> documents in the index's input format."""
    truth: Callable[[Any, Any], np.ndarray]
    """``(queries, docs)`` -> exact ``(n_q, n_docs)`` scores."""
    exact: bool
    """True when results must equal brute force (no approximation)."""
    min_recall: float
    """Recall@10 floor on the small conformance data (real floors: test_recall.py)."""

    def queries(self, n: int, seed: int) -> Any:
        return self.docs(n, seed + 1000)


def _dense_case(name: str, kind: str | None, exact: bool, min_recall: float, **params: Any) -> Case:
    def create(path: Path | None) -> Any:
        if kind is None:
            return ExactIndex.create(path, dim=DIM, metric="cosine")
        return FaissIndex.create(path, dim=DIM, kind=kind, metric="cosine", **params)

    return Case(
        name=name,
        create=create,
        open=ExactIndex.open if kind is None else FaissIndex.open,
        docs=lambda n, seed: clustered(n, DIM, seed),
        truth=lambda q, d: dense_truth(q, d),
        exact=exact,
        min_recall=min_recall,
    )


CASES = [
    _dense_case("exact", None, exact=True, min_recall=0.99),
    _dense_case("faiss-flat", "flat", exact=True, min_recall=0.99),
    # Small nlist / low min_train so that conformance data (hundreds of items) is trained.
    _dense_case("faiss-ivf", "ivf", exact=False, min_recall=0.6, nlist=4, nprobe=4),
    _dense_case("faiss-hnsw", "hnsw", exact=False, min_recall=0.6, hnsw_m=16),
    # 4-bit PQ on 32 dimensions is coarse: neighbours within a cluster blur together.
    _dense_case(
        "faiss-ivfpq", "ivfpq", exact=False, min_recall=0.2, nlist=4, nprobe=4, pq_m=8, pq_bits=4
    ),
    _dense_case("faiss-sq8", "sq8", exact=False, min_recall=0.6),
    Case(
        name="sparse",
        create=lambda path: SparseIndex.create(path, vocab_size=VOCAB),
        open=SparseIndex.open,
        docs=lambda n, seed: random_sparse(n, seed),
        truth=lambda q, d: sparse_to_dense(q) @ sparse_to_dense(d).T,
        exact=True,
        min_recall=0.99,
    ),
]
CASE_IDS = [case.name for case in CASES]


def take(docs: Any, rows: Any) -> Any:
    """Select rows of dense or sparse documents."""
    if isinstance(docs, SparseEmbeddings):
        return SparseEmbeddings.from_items([docs[int(i)] for i in rows], docs.vocab_size)
    return docs[np.asarray(rows)]
