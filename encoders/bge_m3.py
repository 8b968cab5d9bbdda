"""BGE-M3: dense, sparse (lexical) and ColBERT vectors from one XLM-RoBERTa forward pass.

Selected with ``hf_overrides={"architectures": ["BgeM3EmbeddingModel"]}`` as in vLLM; the
extra heads ship as ``colbert_linear.pt`` / ``sparse_linear.pt`` (``nn.Linear`` state dicts),
read with ``torch.load(weights_only=True)`` (tensors only, no code) or from a
``.safetensors`` twin.

* dense  = L2-normalized CLS state                               ``(h,)``
* sparse = ``relu(sparse_linear(h_t))`` per token                 ``(n_tokens,)``; lexical
  weights keep the max per token id with special tokens dropped
* colbert = L2-normalized ``colbert_linear(h_t)`` for tokens 1..n ``(n_tokens - 1, d)``
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from retrieval.errors import ConfigError

ARCHITECTURE = "BgeM3EmbeddingModel"


def load_linear(folder: Path, stem: str) -> nn.Linear:
    """``{stem}.safetensors`` or ``{stem}.pt`` as an ``nn.Linear`` (weights only)."""
    safe, pickled = folder / f"{stem}.safetensors", folder / f"{stem}.pt"
    if safe.is_file():
        state = load_file(str(safe))
    elif pickled.is_file():
        # weights_only=True restricts unpickling to tensors: no code can run.
        state = torch.load(pickled, map_location="cpu", weights_only=True)
    else:
        msg = (
            f"BGE-M3 head {stem!r} is missing: expected {pickled.name} or {safe.name} in "
            f"{str(folder)!r}. Download the full BAAI/bge-m3 folder, or drop the "
            f'"{ARCHITECTURE}" override to use the dense output only.'
        )
        raise ConfigError(msg)
    weight = state["weight"]
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in state)
    linear.load_state_dict(state)
    return linear.eval()


class BgeM3Heads(nn.Module):
    """The sparse and ColBERT projections on top of the shared hidden states."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.colbert = load_linear(folder, "colbert_linear")
        self.sparse = load_linear(folder, "sparse_linear")

    def token_weights(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(n, h)`` -> lexical weight per token ``(n,)``."""
        return torch.relu(self.sparse(hidden)).squeeze(-1).float()

    def colbert_vectors(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(n, h)`` of one sequence -> normalized vectors of tokens 1..n ``(n - 1, d)``."""
        return nn.functional.normalize(self.colbert(hidden[1:]).float(), dim=-1)


def lexical_weights(
    token_ids: list[int], weights: torch.Tensor, special_ids: set[int]
) -> dict[int, float]:
    """Max weight per token id, special tokens and zero weights dropped."""
    best: dict[int, float] = {}
    for token_id, weight in zip(token_ids, weights.tolist(), strict=True):
        if token_id in special_ids or weight <= 0:
            continue
        if weight > best.get(token_id, 0.0):
            best[token_id] = weight
    return best
