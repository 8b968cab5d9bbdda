"""Synthetic token data and a conformance ``Case`` for ``PlaidIndex``.

Documents are short lists of unit token vectors drawn around shared topic centres; queries
are made the same way. ``maxsim_truth`` is brute-force MaxSim in float64 numpy, independent
of the index code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from late_interaction import PlaidIndex
from tests.indexes.cases import Case

DIM = 32


class TokenDocs(list):  # type: ignore[type-arg]
    """A list of ``(tokens_i, dim)`` arrays that also takes an index array (like numpy)."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, np.ndarray | range):
            return TokenDocs(list.__getitem__(self, int(i)) for i in np.asarray(key))
        return list.__getitem__(self, key)


def token_docs(
    n: int,
    seed: int,
    dim: int = DIM,
    lengths: tuple[int, int] = (3, 10),
    n_topics: int = 40,
    spread: float = 0.35,
    per_topic: int = 4,
) -> TokenDocs:
    """``n`` documents of ``lengths`` tokens, each token a unit vector near one of a few
    centres of the document's topic (centres shared by every seed)."""
    shared = np.random.default_rng(777)
    centres = shared.normal(size=(n_topics * per_topic, dim))
    rng = np.random.default_rng(seed)
    out = TokenDocs()
    for _ in range(n):
        topic = rng.integers(n_topics)
        size = int(rng.integers(lengths[0], lengths[1] + 1))
        picks = centres[topic * per_topic + rng.integers(0, per_topic, size)]
        tokens = picks + spread * rng.normal(size=(size, dim))
        out.append((tokens / np.linalg.norm(tokens, axis=1, keepdims=True)).astype(np.float32))
    return out


def maxsim_truth(queries: Any, docs: Any) -> np.ndarray:
    """``(n_q, n_docs)`` exact MaxSim in float64."""
    out = np.zeros((len(queries), len(docs)))
    for j, doc in enumerate(docs):
        d = np.asarray(doc, np.float64)
        for i, q in enumerate(queries):
            out[i, j] = (np.asarray(q, np.float64) @ d.T).max(1).sum() if len(d) else 0.0
    return out


EASY = {"per_topic": 16, "lengths": (8, 16)}
"""``token_docs`` settings with many distinct centres: clear top-10s."""


def doc_ids(n: int, prefix: str = "d") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def near_copies(docs: list, n: int, noise: float, seed: int) -> list[np.ndarray]:
    """Queries: ``n`` documents' tokens plus Gaussian noise, renormalized."""
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(docs), n, replace=False):
        noisy = docs[i] + noise * rng.normal(size=docs[i].shape)
        out.append((noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32))
    return out


def fast_truth(queries: list, docs: list) -> np.ndarray:
    """``(n_q, n_docs)`` exact MaxSim in float64 (one matrix product per query)."""
    flat = np.concatenate(docs).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum([len(d) for d in docs])[:-1]])
    return np.stack(
        [np.maximum.reduceat(flat @ np.asarray(q, np.float64).T, starts).sum(1) for q in queries]
    )


def recall_at_10(hits: list, truth: np.ndarray, ids: list[str]) -> float:
    """Mean share of each query's exact top 10 (by ``truth``) among its ``hits``."""
    out = []
    for row, found in enumerate(hits):
        expected = {ids[i] for i in np.argsort(-truth[row], kind="stable")[:10]}
        out.append(len(expected & {h.id for h in found}) / 10)
    return float(np.mean(out))


def plaid_create(path: Path | None) -> PlaidIndex:
    # 4 bits: the conformance suite compares re-scored scores with brute force within 0.1
    return PlaidIndex.create(path, dim=DIM, nbits=4, ncells=4, ndocs=64)


def plaid_int8_create(path: Path | None) -> PlaidIndex:
    # 2 bits and the derived ndocs: the int8 side store gives the final scores
    return PlaidIndex.create(path, dim=DIM, nbits=2, rescore="int8")


PLAID_CASE = Case(
    name="plaid",
    create=plaid_create,
    open=PlaidIndex.open,
    docs=lambda n, seed: token_docs(n, seed),
    truth=maxsim_truth,
    exact=False,
    min_recall=0.9,
)

PLAID_INT8_CASE = Case(
    name="plaid-int8",
    create=plaid_int8_create,
    open=PlaidIndex.open,
    docs=lambda n, seed: token_docs(n, seed),
    truth=maxsim_truth,
    exact=False,
    min_recall=0.9,
)
