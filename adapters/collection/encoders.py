"""Text encoders for the Retriever: ``encoders.LLM`` wrapped as ``retrieval.QueryEncoder``s.

Each wrapper has ``encode_queries`` and ``encode_documents``, both returning representations
by kind (``dense`` ``(n, d)`` float32 array, ``sparse`` ``SparseEmbeddings``, ``multivector``
list of ``(n_tokens_i, d)`` float32 tensors). One call is one forward pass per text, however
many kinds it returns. The last query batch is remembered, so a reranker that shares the
first stage's encoder does not encode the same queries twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from retrieval.errors import ConfigError
from retrieval.types import SparseEmbeddings

Encoded = dict[str, Any]


class TextEncoder:
    """Base: query/document encoding with a one-batch memo of the last queries."""

    kinds: tuple[str, ...] = ()
    """Representations this encoder returns."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self._memo: tuple[tuple[str, ...], Encoded] | None = None

    def encode_queries(self, queries: Sequence[str]) -> Mapping[str, Any]:
        """Representations of a query batch (by kind)."""
        key = tuple(queries)
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, self._encode(list(queries), is_query=True))
        return self._memo[1]

    def encode_documents(self, documents: Sequence[str]) -> Mapping[str, Any]:
        """Representations of a document batch (by kind)."""
        return self._encode(list(documents), is_query=False)

    def _encode(self, texts: list[str], *, is_query: bool) -> Encoded:
        raise NotImplementedError


class DenseEncoder(TextEncoder):
    """The model's own pooled embedding (``LLM.embed``): ``{"dense": (n, d)}``."""

    kinds = ("dense",)

    def _encode(self, texts: list[str], *, is_query: bool) -> Encoded:
        if not texts:
            return {"dense": np.zeros((0, 0), np.float32)}
        outputs = self.llm.embed(texts, truncate_prompt_tokens=-1, use_tqdm=False)
        return {"dense": np.asarray([o.outputs.embedding for o in outputs], np.float32)}


class TokenEncoder(TextEncoder):
    """Token embeddings for MaxSim, plus (for non-ColBERT models) a dense vector from the
    same pass: ``{"multivector": [...], "dense": (n, d)}``.

    ColBERT checkpoints use ``LLM.encode_queries`` / ``encode_documents`` (markers, [MASK]
    expansion, projection) and give ``multivector`` only. Other models give their
    L2-normalised last hidden states as ``multivector`` and the normalised mean of the raw
    states as ``dense`` - exactly the ``embed`` output of a MEAN-pooled model such as
    all-MiniLM-L6-v2, computed from the one forward pass.
    """

    def __init__(self, llm: Any) -> None:
        super().__init__(llm)
        self.colbert = getattr(llm.model, "colbert", None) is not None
        self.kinds = ("multivector",) if self.colbert else ("multivector", "dense")

    def _encode(self, texts: list[str], *, is_query: bool) -> Encoded:
        if self.colbert:
            side = self.llm.encode_queries if is_query else self.llm.encode_documents
            return {"multivector": [t.float() for t in side(texts, use_tqdm=False)]}
        from encoders import PoolingParams

        raw = PoolingParams(use_activation=False, truncate_prompt_tokens=-1)
        states = [
            o.outputs.data.float()
            for o in self.llm.encode(texts, raw, pooling_task="token_embed", use_tqdm=False)
        ]
        dense = [F.normalize(s.mean(0), dim=-1) for s in states]
        return {
            "multivector": [F.normalize(s, dim=-1) for s in states],
            "dense": torch.stack(dense).numpy() if dense else np.zeros((0, 0), np.float32),
        }


class SparseEncoder(TextEncoder):
    """SPLADE (or BGE-M3 lexical) weights via ``LLM.embed_sparse``: ``{"sparse": ...}``."""

    kinds = ("sparse",)

    def __init__(self, llm: Any) -> None:
        super().__init__(llm)
        self.vocab_size = int(llm.vocab_size)

    def _encode(self, texts: list[str], *, is_query: bool) -> Encoded:
        outputs = self.llm.embed_sparse(texts, truncate_prompt_tokens=-1, use_tqdm=False)
        items = [(o.outputs.indices, o.outputs.values) for o in outputs]
        return {"sparse": SparseEmbeddings.from_items(items, self.vocab_size)}


class HybridEncoder(TextEncoder):
    """BGE-M3: dense, lexical and ColBERT outputs from ONE forward pass (``embed_hybrid``)."""

    kinds = ("dense", "sparse", "multivector")

    def __init__(self, llm: Any) -> None:
        super().__init__(llm)
        if getattr(llm.model, "family", None) != "bge_m3":
            msg = (
                f"HybridEncoder needs a BGE-M3 model; {llm.model.name!r} is not one. Combine a "
                "TokenEncoder and a SparseEncoder for other models."
            )
            raise ConfigError(msg)
        self.vocab_size = int(llm.vocab_size)

    def _encode(self, texts: list[str], *, is_query: bool) -> Encoded:
        outputs = self.llm.embed_hybrid(texts, truncate_prompt_tokens=-1, use_tqdm=False)
        parts = [o.outputs for o in outputs]
        sparse = [(p.sparse.indices, p.sparse.values) for p in parts]
        return {
            "dense": np.asarray([p.dense for p in parts], np.float32),
            "sparse": SparseEmbeddings.from_items(sparse, self.vocab_size),
            "multivector": [p.multi_vector.float() for p in parts],
        }


def encode_in_batches(
    encoder: TextEncoder, texts: Sequence[str], batch_size: int = 256
) -> dict[str, Any]:
    """``encoder.encode_documents`` over ``texts`` in batches, outputs joined per kind (keeps
    peak memory to one batch of model activations plus the outputs)."""
    parts: list[Mapping[str, Any]] = [
        encoder.encode_documents(texts[start : start + batch_size])
        for start in range(0, len(texts), batch_size)
    ]
    return join_outputs(parts)


def join_outputs(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Concatenate per-kind outputs of consecutive batches."""
    if not parts:
        return {}
    joined: dict[str, Any] = {}
    for kind in parts[0]:
        values = [p[kind] for p in parts]
        if kind == "dense":
            joined[kind] = np.concatenate(values)
        elif kind == "sparse":
            items = [item for batch in values for item in batch]
            joined[kind] = SparseEmbeddings.from_items(items, values[0].vocab_size)
        else:
            joined[kind] = [t for batch in values for t in batch]
    return joined
