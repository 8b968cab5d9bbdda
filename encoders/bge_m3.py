"""BGE-M3: dense, sparse (lexical) and ColBERT vectors from one XLM-RoBERTa forward pass.

Selected with ``hf_overrides={"architectures": ["BgeM3EmbeddingModel"]}`` as in vLLM; the
extra heads ship as ``colbert_linear.pt`` / ``sparse_linear.pt`` (``nn.Linear`` state dicts),
read with ``torch.load(weights_only=True)`` (tensors only, no code) or from a
``.safetensors`` twin.

* dense  = L2-normalized CLS state                                    ``(h,)``
* sparse = ``relu(sparse_linear(h_t))`` per token, without the BOS and EOS positions
  ``(n_tokens - 2,)``; lexical weights keep the max per token id, special tokens dropped
* colbert = L2-normalized ``colbert_linear(h_t)`` without the BOS position ``(n_tokens - 1, d)``

Which positions are dropped follows vLLM's ``BOSEOSFilter``: the first position when its
token is the config's ``bos_token_id``, and (lexical weights only) the last when it is the
config's ``eos_token_id``. So for a plain tokenized text the weights line up with the tokens
of ``/tokenize`` minus the first, as vLLM documents; an input whose EOS was cut off by
truncation (or sent without special tokens) keeps its last (first) position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    """The sparse and ColBERT projections on top of the shared hidden states.

    ``bos_token_id`` / ``eos_token_id`` come from the model config (None: never dropped).
    """

    def __init__(self, folder: Path, bos_token_id: int | None, eos_token_id: int | None) -> None:
        super().__init__()
        self.colbert = load_linear(folder, "colbert_linear")
        self.sparse = load_linear(folder, "sparse_linear")
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id

    def weight_span(self, token_ids: list[int]) -> slice:
        """The positions that get a lexical weight: all but a leading BOS and a trailing EOS."""
        start = 1 if token_ids and token_ids[0] == self.bos_token_id else 0
        stop = len(token_ids)
        if stop > start and token_ids[-1] == self.eos_token_id:
            stop -= 1
        return slice(start, stop)

    def vector_span(self, token_ids: list[int]) -> slice:
        """The positions that get a ColBERT vector: all but a leading BOS."""
        return slice(1 if token_ids and token_ids[0] == self.bos_token_id else 0, None)

    def token_weights(
        self, hidden: torch.Tensor, token_ids: list[int], activation: bool = True
    ) -> torch.Tensor:
        """``(n, h)`` of one sequence -> its lexical weights ``(len(weight_span),)``;
        ``activation=False`` gives the raw ``sparse_linear`` output (no ReLU)."""
        scores = self.sparse(hidden[self.weight_span(token_ids)]).squeeze(-1).float()
        return torch.relu(scores) if activation else scores

    def colbert_vectors(
        self, hidden: torch.Tensor, token_ids: list[int], normalize: bool = True
    ) -> torch.Tensor:
        """``(n, h)`` of one sequence -> its ColBERT vectors ``(len(vector_span), d)``."""
        vectors = self.colbert(hidden[self.vector_span(token_ids)]).float()
        return nn.functional.normalize(vectors, dim=-1) if normalize else vectors


def unused_token_ids(tokenizer: Any) -> set[int]:
    """Token ids that never get a lexical weight: FlagEmbedding's CLS, EOS, PAD and UNK (and
    SEP, the same token as EOS in BGE-M3's XLM-R vocabulary)."""
    names = ("cls_token_id", "sep_token_id", "eos_token_id", "pad_token_id", "unk_token_id")
    found = (getattr(tokenizer, name, None) for name in names)
    return {int(i) for i in found if isinstance(i, int)}


def lexical_weights(
    token_ids: list[int], weights: torch.Tensor, unused_ids: set[int]
) -> dict[int, float]:
    """Max weight per token id; ``unused_ids`` and zero weights dropped (FlagEmbedding's
    ``lexical_weights``). ``token_ids`` are the ids the weights belong to, position by
    position."""
    best: dict[int, float] = {}
    for token_id, weight in zip(token_ids, weights.tolist(), strict=True):
        if token_id in unused_ids or weight <= 0:
            continue
        if weight > best.get(token_id, 0.0):
            best[token_id] = weight
    return best
