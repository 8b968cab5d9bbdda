"""SPLADE: sparse lexical vectors from a masked-LM head.

``w[v] = max over real tokens t of log(1 + relu(mlm_logits[t, v]))``. The MLM head runs over
the real tokens in row chunks, so a long batch never materializes a ``(batch, seq, vocab)``
tensor: peak extra memory is ``chunk_tokens x vocab`` floats.
"""

from __future__ import annotations

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
    hidden: torch.Tensor, mask: torch.Tensor, head: nn.Module, chunk_tokens: int = CHUNK_TOKENS
) -> torch.Tensor:
    """``hidden (b, l, h)``, ``mask (b, l)`` -> SPLADE weights ``(b, vocab)`` float32."""
    keep = mask.bool()
    rows = hidden[keep]  # (n_real, h)
    owners = keep.nonzero()[:, 0]
    out: torch.Tensor | None = None
    for start in range(0, rows.shape[0], chunk_tokens):
        weights = torch.log1p(torch.relu(head(rows[start : start + chunk_tokens]).float()))
        if out is None:
            out = torch.zeros(hidden.shape[0], weights.shape[-1], device=weights.device)
        # scatter_reduce is the stable spelling of a per-row max over variable segments.
        index = owners[start : start + chunk_tokens, None].expand_as(weights)
        out.scatter_reduce_(0, index, weights, "amax")
    if out is None:
        msg = "SPLADE pooling got a batch without real tokens."
        raise ConfigError(msg)
    return out


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
