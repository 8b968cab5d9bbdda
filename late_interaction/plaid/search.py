"""PLAID's search stages for one query over a ``TokenStore``.

1. Centroid interaction: ``S = q @ centroids.T`` ``(q_tokens, n_centroids)``; each query
   token probes its ``ncells`` best centroids.
2. Candidates: the documents with a token in a probed centroid (inverted lists), restricted
   to live rows matching the filter. When a filter leaves at most ``ndocs`` rows, those rows
   are the candidates (no probing: the filter pre-restricts, so nothing it allows is missed);
   when probing yields fewer than ``k`` rows, every allowed row is a candidate.
3. Approximate scores from centroids only, ``sum_i max_j S[i, code_j]``: first pruned (only
   probed centroids and those whose best query-token score reaches
   ``centroid_score_threshold`` count; computed per (centroid, document) pair of the inverted
   lists), keeping ``ndocs`` rows; then over every token of those, keeping ``ndocs // 4``
   (at least ``k``). ``ndocs`` defaults to a depth derived from the index (``defaults.py``).
4. Decompress the survivors and score them by exact MaxSim on the decoded tokens (with a
   ``rescore`` side store, ``"fp16"`` or ``"int8"``: on its tokens instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from late_interaction.maxsim import maxsim
from late_interaction.plaid.codec import ResidualCodec
from late_interaction.plaid.defaults import derived_ndocs
from late_interaction.plaid.store import TokenStore
from retrieval.multivector import MultiVectorEmbeddings

_GATHER_TOKENS = 262_144  # candidate tokens per centroid-score pass: bounds scratch memory


@dataclass(frozen=True)
class SearchParams:
    """Per-search knobs of the PLAID stages (defaults: ``PlaidConfig``)."""

    ncells: int
    """Centroids probed per query token (stage 1)."""
    centroid_score_threshold: float | None
    """Centroids scoring below this with every query token are ignored in the first
    approximate pass (stage 3); ``None`` disables pruning."""
    ndocs: int | None
    """Candidates kept after the pruned approximate pass; ``ndocs // 4`` are decompressed.
    ``None``: derived from the index and ``k`` (``defaults.derived_ndocs``)."""
    rescore: bool = False
    """Score the final candidates on the full-precision side store (there must be one)."""


def search_one(
    query: np.ndarray,
    store: TokenStore,
    codec: ResidualCodec,
    valid: np.ndarray,
    n_valid: int,
    k: int,
    params: SearchParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` rows for ``query`` ``(q_tokens, dim)`` among rows where ``valid`` (bool,
    ``n_valid`` of them): ``(rows, scores)`` each ``(k,)``, row -1 / score -inf past the end."""
    ndocs = params.ndocs or derived_ndocs(store.docs_per_cell(), k)
    if n_valid <= max(ndocs, k):
        return _exact(query, store, codec, np.flatnonzero(valid), k, params.rescore)
    centroid_scores = query @ codec.centroids.T  # (q_tokens, n_centroids)
    table = np.ascontiguousarray(centroid_scores.T)  # a centroid's scores are one row
    n_probe = min(params.ncells, centroid_scores.shape[1])
    probed = np.unique(np.argpartition(-centroid_scores, n_probe - 1, axis=1)[:, :n_probe])
    kept = probed
    if params.centroid_score_threshold is not None:
        passing = np.flatnonzero(centroid_scores.max(0) >= params.centroid_score_threshold)
        kept = np.union1d(probed, passing)
    rows, pruned = _pruned_scores(table, store, probed, kept)
    keep = valid[rows]
    rows, pruned = rows[keep], pruned[keep]
    if len(rows) < k:  # too few probed documents pass the filter: rank every allowed one
        rows = np.flatnonzero(valid)
        pruned = _approximate(table, store, rows)
    rows = _best(rows, pruned, ndocs)
    rows = _best(rows, _approximate(table, store, rows), max(k, ndocs // 4))
    return _exact(query, store, codec, rows, k, params.rescore)


def _pruned_scores(
    table: np.ndarray, store: TokenStore, probed: np.ndarray, kept: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate rows (those with a token in a ``probed`` centroid) and their centroid-only
    MaxSim counting only ``kept`` centroids (pruning), from the inverted lists: the work is
    one row of ``table`` per (kept centroid, document) pair, not per token."""
    cells, rows = store.cell_rows(kept)
    order = np.argsort(rows, kind="stable")
    rows, cells = rows[order], cells[order]
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]])) if len(rows) else rows
    unique_rows = rows[starts]
    if not len(unique_rows):
        return unique_rows, np.zeros(0, np.float32)
    maxima = np.maximum.reduceat(table[cells], starts, axis=0)  # (docs, q_tokens)
    scores = np.maximum(maxima, 0).sum(1)  # a query token matching nothing kept adds 0
    is_probed = np.zeros(len(table), bool)
    is_probed[probed] = True
    hit = np.zeros(len(unique_rows), bool)
    np.logical_or.at(hit, np.searchsorted(unique_rows, rows), is_probed[cells])
    return unique_rows[hit], scores[hit].astype(np.float32)


def _approximate(table: np.ndarray, store: TokenStore, rows: np.ndarray) -> np.ndarray:
    """``(len(rows),)`` centroid-only MaxSim: ``table`` ``(n_centroids, q_tokens)``."""
    out = np.zeros(len(rows), np.float32)
    lengths = np.diff(store.ptr)[rows]
    start = 0
    while start < len(rows):  # groups of rows holding about _GATHER_TOKENS tokens
        cumulative = np.cumsum(lengths[start:])
        stop = start + max(1, int(np.searchsorted(cumulative, _GATHER_TOKENS, side="right")))
        group = slice(start, stop)
        nonempty = np.flatnonzero(lengths[group] > 0)
        if len(nonempty):
            index, group_lengths = store.token_index(rows[group][nonempty])
            scores = table[store.codes.take(index)]  # (tokens, q_tokens)
            offsets = np.concatenate([[0], np.cumsum(group_lengths)[:-1]])
            maxima = np.maximum.reduceat(scores, offsets, axis=0)  # (rows, q_tokens)
            out[start + nonempty] = maxima.sum(1)
        start = stop
    return out


def side_tokens(store: TokenStore, codec: ResidualCodec, index: np.ndarray) -> np.ndarray:
    """``(len(index), dim)`` float32 side-store tokens at global token ``index`` (an int8
    side store refines the decoded tokens)."""
    side = store.side
    assert side is not None
    decoded = None
    if side.refines:
        decoded = codec.decode(store.codes.take(index), store.residuals.take(index))
    return side.take(index, decoded)


def _best(rows: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` best-scoring ``rows`` (all when fewer), in row order."""
    if len(rows) <= n:
        return rows
    return np.sort(rows[np.argpartition(-scores, n - 1)[:n]])


def score_rows(
    query: np.ndarray, store: TokenStore, codec: ResidualCodec, rows: np.ndarray, rescore: bool
) -> np.ndarray:
    """MaxSim of ``query`` with each of ``rows`` (any order), on the side store's
    full-precision tokens when ``rescore`` and there is one, else on decoded tokens."""
    if not len(rows):
        return np.zeros(0, np.float32)
    index, lengths = store.token_index(rows)
    if rescore and store.side is not None:  # exact re-scoring from the side store
        vectors = side_tokens(store, codec, index)
    else:
        vectors = codec.decode(store.codes.take(index), store.residuals.take(index))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    docs = MultiVectorEmbeddings(torch.from_numpy(vectors), torch.from_numpy(offsets))
    return maxsim(torch.from_numpy(query), docs).numpy()


def _exact(
    query: np.ndarray,
    store: TokenStore,
    codec: ResidualCodec,
    rows: np.ndarray,
    k: int,
    rescore: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Decompress ``rows`` (sorted) and rank them by MaxSim with the decoded tokens (or the
    side store's full-precision ones)."""
    out_rows = np.full(k, -1, np.int64)
    out_scores = np.full(k, -np.inf, np.float32)
    if not len(rows):
        return out_rows, out_scores
    scores = score_rows(query, store, codec, rows, rescore)
    n = min(k, len(rows))
    order = np.lexsort((rows, -scores))[:n]  # ties keep row (insertion) order
    out_rows[:n], out_scores[:n] = rows[order], scores[order]
    return out_rows, out_scores
