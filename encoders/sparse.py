"""SPLADE: sparse lexical vectors from a masked-LM head.

``w[v] = max over real tokens t of log(1 + relu(mlm_logits[t, v]))`` (SPLADE v2 and later),
or, as a sentence-transformers ``SpladePooling`` config may say, the ``sum`` over tokens
(the original SPLADE) and/or the ``log1p_relu`` activation ``log(1 + log(1 + relu(x)))``
(OpenSearch's models). The MLM head runs over the real tokens in row chunks, so a long batch
never materializes a ``(batch, seq, vocab)`` tensor: peak extra memory is
``chunk_tokens x vocab`` floats.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from retrieval.errors import ConfigError

# 512 rows x a 30k vocabulary = 60 MB of fp32 logits at a time.
CHUNK_TOKENS = 512


def mlm_head(model: nn.Module) -> nn.Module:
    """The module mapping hidden states to vocabulary logits (BERT ``cls``, RoBERTa
    ``lm_head``, ModernBERT ``head`` + ``decoder``)."""
    for name in ("cls", "lm_head"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    head, decoder = getattr(model, "head", None), getattr(model, "decoder", None)
    if isinstance(head, nn.Module) and isinstance(decoder, nn.Module):
        return nn.Sequential(head, decoder)
    msg = (
        f"{type(model).__name__} has no masked-LM head this toolkit recognizes (cls, lm_head, "
        "head + decoder); SPLADE needs a *ForMaskedLM checkpoint."
    )
    raise ConfigError(msg)


def splade_pool(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    head: nn.Module,
    chunk_tokens: int = CHUNK_TOKENS,
    reduce: str = "max",
    activation: str = "relu",
) -> torch.Tensor:
    """``hidden (b, l, h)``, ``mask (b, l)`` -> SPLADE weights ``(b, vocab)`` float32.

    ``reduce="max"``: the activation is non-decreasing, so the max over tokens of
    ``act(logits)`` equals ``act(max over tokens of logits)``: only the running max touches
    every token, the activation runs once per sequence. ``reduce="sum"`` activates every
    token and sums.
    """
    keep = mask.bool()
    rows = hidden[keep]  # (n_real, h), sequences one after another
    if rows.shape[0] == 0:
        msg = "SPLADE pooling got a batch without real tokens."
        raise ConfigError(msg)
    bounds = torch.cumsum(keep.sum(dim=1), 0).tolist()
    best: torch.Tensor | None = None
    for start in range(0, rows.shape[0], chunk_tokens):
        stop = min(start + chunk_tokens, rows.shape[0])
        logits = head(rows[start:stop]).float()
        if best is None:
            fill = float("-inf") if reduce == "max" else 0.0
            best = torch.full((hidden.shape[0], logits.shape[-1]), fill, device=logits.device)
        if reduce == "max":
            _segment_max(best, logits, start, stop, bounds)
        else:
            _segment_sum(best, _activate(logits, activation), start, stop, bounds)
    assert best is not None
    return _activate(best, activation) if reduce == "max" else best


def _activate(logits: torch.Tensor, activation: str) -> torch.Tensor:
    weights = torch.log1p(torch.relu(logits))
    return torch.log1p(weights) if activation == "log1p_relu" else weights


def _segment_max(
    best: torch.Tensor, logits: torch.Tensor, start: int, stop: int, bounds: list[int]
) -> None:
    """Fold flattened rows ``start..stop`` into ``best`` in place; sequence ``i`` owns rows
    ``bounds[i - 1]..bounds[i]``."""
    for row, lo, hi in _segments(start, stop, bounds):
        best[row] = torch.maximum(best[row], logits[lo - start : hi - start].amax(dim=0))


def _segment_sum(
    total: torch.Tensor, weights: torch.Tensor, start: int, stop: int, bounds: list[int]
) -> None:
    """Add flattened rows ``start..stop`` into their sequence's row of ``total`` in place."""
    for row, lo, hi in _segments(start, stop, bounds):
        total[row] += weights[lo - start : hi - start].sum(dim=0)


def _segments(start: int, stop: int, bounds: list[int]) -> list[tuple[int, int, int]]:
    """``(sequence, first row, end row)`` of each sequence's share of rows ``start..stop``."""
    row = bisect.bisect_right(bounds, start)
    position, parts = start, []
    while position < stop:
        end = min(bounds[row], stop)
        if end > position:
            parts.append((row, position, end))
        position, row = end, row + 1
    return parts


@dataclass
class SparseEmbeddingOutput:
    """A sparse vector: parallel lists of vocabulary ids, weights and token strings,
    sorted by weight (largest first)."""

    indices: list[int]
    values: list[float]
    tokens: list[str]

    def to_dict(self) -> list[dict[str, Any]]:
        """``[{"token_id", "weight", "token"}, ...]`` - no separate /tokenize call needed."""
        return [
            {"token_id": i, "weight": w, "token": t}
            for i, w, t in zip(self.indices, self.values, self.tokens, strict=True)
        ]


def from_weights(
    weights: dict[int, float], tokenizer: Any, top_k: int | None
) -> SparseEmbeddingOutput:
    """``{token_id: weight}`` -> a sorted :class:`SparseEmbeddingOutput`."""
    items = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    ids = [i for i, _ in items]
    return SparseEmbeddingOutput(ids, [w for _, w in items], tokenizer.convert_ids_to_tokens(ids))


def to_sparse(weights: torch.Tensor, tokenizer: Any, top_k: int | None) -> SparseEmbeddingOutput:
    """``weights (vocab,)`` -> the non-zero entries (at most ``top_k``), largest first."""
    nonzero = weights.nonzero().reshape(-1)
    values = weights[nonzero]
    order = torch.argsort(values, descending=True, stable=True)
    if top_k is not None:
        order = order[:top_k]
    ids = nonzero[order].tolist()
    return SparseEmbeddingOutput(ids, values[order].tolist(), tokenizer.convert_ids_to_tokens(ids))
