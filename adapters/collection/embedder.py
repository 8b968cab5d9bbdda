"""Model outputs an index kind needs, for documents and for queries.

* ``dense``: one vector per text (``LLM.embed``).
* ``sparse``: SPLADE / BGE-M3 lexical weights (``LLM.embed_sparse``).
* ``multivector``: token vectors (``LLM.encode_documents`` / ``encode_queries``).
* ``hybrid``: dense + token vectors, from ONE forward pass (``LLM.embed_hybrid``) whenever
  the model serves both ``embed`` and ``token_embed`` (embedding models, BGE-M3);
  ``Embedder.one_pass`` says so. ColBERT models have no pooled vector to pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from retrieval.errors import ConfigError

Kind = Literal["dense", "sparse", "multivector", "hybrid"]
KINDS: tuple[str, ...] = get_args(Kind)
COMPONENTS: dict[str, tuple[str, ...]] = {
    "dense": ("dense",),
    "sparse": ("sparse",),
    "multivector": ("tokens",),
    "hybrid": ("dense", "tokens"),
}
"""Vector indexes each kind keeps: ``dense`` (faiss), ``tokens`` (MaxSim), ``sparse``."""


def check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        msg = f"Unknown index kind {kind!r}. Valid: {', '.join(KINDS)}."
        raise ConfigError(msg)
    return kind  # type: ignore[return-value]


@dataclass
class Encoded:
    """Embeddings of a batch of ``n`` texts; fields the kind does not use are None."""

    dense: np.ndarray | None = None
    """``(n, dim)`` float32, L2-normalized."""
    tokens: list[np.ndarray] | None = None
    """``n`` arrays ``(n_tokens_i, dim)`` float32, rows L2-normalized."""
    sparse: list[tuple[np.ndarray, np.ndarray]] | None = None
    """``n`` pairs ``(token ids, weights)``."""
    n_tokens: int = 0
    """Model tokens processed (for throughput reporting)."""


class Embedder:
    """Encodes documents and queries for one index kind with one loaded ``encoders.LLM``."""

    def __init__(self, llm: Any, kind: str) -> None:
        self.llm = llm
        self.kind = check_kind(kind)
        model = llm.model
        if kind == "sparse" and model.family not in ("sparse", "bge_m3"):
            msg = (
                f"--kind sparse needs a sparse model (SPLADE *ForMaskedLM or BGE-M3); "
                f"{model.name!r} is a {model.family!r} model. Use --kind dense or hybrid."
            )
            raise ConfigError(msg)
        self.images = is_vision_model(llm)
        if self.images and kind != "multivector":
            msg = (
                f"{model.name!r} embeds images and text as token vectors only; use "
                f"--kind multivector (not {kind!r})."
            )
            raise ConfigError(msg)
        self.one_pass = kind == "hybrid" and {"embed", "token_embed"} <= set(llm.supported_tasks)

    @property
    def dim(self) -> int:
        """Width of the dense / token vectors (0 for sparse)."""
        if self.kind == "sparse":
            return 0
        probe = self.documents(["dimension probe"])
        source = probe.dense if probe.dense is not None else probe.tokens[0]  # type: ignore[index]
        return int(source.shape[-1])

    def documents(self, texts: list[Any]) -> Encoded:
        """Texts (or, for a multi-modal model, PIL images too)."""
        return self._encode(texts, query=False)

    def queries(self, texts: list[str]) -> Encoded:
        return self._encode(texts, query=True)

    def encode_queries(self, queries: Sequence[str]) -> dict[str, Any]:
        """``retrieval.QueryEncoder``: ``{"dense" | "sparse" | "multivector": batch}``, the
        representations this kind searches with, from one call."""
        encoded = self.queries(list(queries))
        out: dict[str, Any] = {}
        if encoded.dense is not None:
            out["dense"] = encoded.dense
        if encoded.tokens is not None:
            out["multivector"] = encoded.tokens
        if encoded.sparse is not None:
            out["sparse"] = encoded.sparse
        return out

    def _encode(self, texts: list[Any], *, query: bool) -> Encoded:
        llm, out = self.llm, Encoded()
        if self.kind == "sparse":
            results = llm.embed_sparse(texts, truncate_prompt_tokens=-1, use_tqdm=False)
            out.sparse = [
                (np.asarray(r.outputs.indices, np.int64), np.asarray(r.outputs.values, np.float32))
                for r in results
            ]
            out.n_tokens = sum(len(r.prompt_token_ids) for r in results)
            return out
        if self.one_pass:
            return _one_pass(llm, texts)
        if self.kind in ("dense", "hybrid"):
            results = llm.embed(texts, truncate_prompt_tokens=-1, use_tqdm=False)
            out.dense = np.asarray([r.outputs.embedding for r in results], np.float32)
            out.n_tokens = sum(len(r.prompt_token_ids) for r in results)
        if self.kind in ("multivector", "hybrid"):
            side = llm.encode_queries if query else llm.encode_documents
            out.tokens = [t.float().numpy() for t in side(texts, use_tqdm=False)]
            if out.dense is None:
                out.n_tokens = sum(len(t) for t in out.tokens)
        return out


def is_vision_model(llm: Any) -> bool:
    """True for multi-modal (ColQwen-style) models, which embed page images."""
    from encoders.vision.colqwen import ColQwenModel

    return isinstance(llm.model, ColQwenModel)


def _one_pass(llm: Any, texts: list[str]) -> Encoded:
    outputs = llm.embed_hybrid(texts, truncate_prompt_tokens=-1, use_tqdm=False)
    dense = np.asarray([o.outputs.dense for o in outputs], np.float32)
    tokens = [o.outputs.multi_vector.float().numpy() for o in outputs]
    return Encoded(dense, tokens, None, sum(len(o.prompt_token_ids) for o in outputs))


def slice_encoded(encoded: Encoded, start: int, stop: int, total: int) -> Encoded:
    """Items ``[start, stop)`` of a batch of ``total`` items. ``n_tokens`` is shared out in
    proportion (slices of one batch add up to its exact count)."""

    def share(at: int) -> int:
        return round(encoded.n_tokens * at / total) if total else 0

    return Encoded(
        None if encoded.dense is None else encoded.dense[start:stop],
        None if encoded.tokens is None else encoded.tokens[start:stop],
        None if encoded.sparse is None else encoded.sparse[start:stop],
        share(stop) - share(start),
    )
