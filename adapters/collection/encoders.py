"""The one encoder seam: ``encoders.LLM`` models -> the representations a collection keeps.

``Encoder`` turns texts (and, for ColQwen3-style models, page images) into up to three
representations, named as ``retrieval.QueryEncoder`` names them:

* ``dense``: the model's pooled ``embed`` vector, ``(n, d)`` float32;
* ``multivector``: token vectors (``encode_documents`` / ``encode_queries``: ColBERT markers
  and [MASK] expansion, ColQwen3 prompts, other models their normalized token states),
  ``n`` arrays ``(t_i, d)`` float32;
* ``sparse``: SPLADE or BGE-M3 lexical weights (``embed_sparse``), ``n`` ``(ids, weights)``;
* ``lexical``: the texts themselves (no prompt, no model), for the BM25 index, which does its
  own analysis.

Whatever one model gives together comes from ONE forward pass (``embed_hybrid``: an
embedding model's pooled vector and token states, BGE-M3's three outputs). A hybrid may take
its sparse part from a second (SPLADE) model. The indexer, ``Collection.add``, rerank
stages, Ray workers and LangChain stores all encode through this class, so every door of a
collection sees the same vectors. Texts get the model's sentence-transformers query /
document prompts (recorded in the collection, so a later open encodes the same way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adapters.collection.kinds import KINDS, Kind
from retrieval.errors import ConfigError
from retrieval.types import SparseEmbeddings

REPRESENTATIONS = ("dense", "sparse", "lexical", "multivector")


def check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        msg = f"Unknown index kind {kind!r}. Valid: {', '.join(KINDS)}."
        raise ConfigError(msg)
    return kind  # type: ignore[return-value]


@dataclass
class Encoded:
    """Embeddings of a batch of ``n`` items; representations not asked for are None."""

    dense: np.ndarray | None = None
    """``(n, dim)`` float32."""
    tokens: list[np.ndarray] | None = None
    """``n`` arrays ``(n_tokens_i, dim)`` float32, rows L2-normalized."""
    sparse: list[tuple[np.ndarray, np.ndarray]] | None = None
    """``n`` pairs ``(token ids int64, weights float32)``."""
    n_tokens: int = 0
    """Model tokens processed (for throughput reporting)."""
    texts: list[str] | None = None
    """The ``n`` texts themselves, for lexical (BM25) search."""

    def by_representation(self) -> dict[str, Any]:
        """``{"dense" | "multivector" | "sparse" | "lexical": batch}`` for the
        representations present."""
        out: dict[str, Any] = {}
        if self.dense is not None:
            out["dense"] = self.dense
        if self.tokens is not None:
            out["multivector"] = self.tokens
        if self.sparse is not None:
            out["sparse"] = self.sparse
        if self.texts is not None:
            out["lexical"] = self.texts
        return out

    def __len__(self) -> int:
        for part in (self.dense, self.tokens, self.sparse, self.texts):
            if part is not None:
                return len(part)
        return 0


class Encoder:
    """Encodes documents and queries into ``representations`` with loaded ``encoders.LLM``s.

    ``llm`` gives ``dense`` and ``multivector`` (and ``sparse`` when it is a sparse model or
    BGE-M3 and no ``sparse_llm`` is given); ``sparse_llm`` gives ``sparse`` for a hybrid.
    ``query_prompt`` / ``document_prompt`` prefix ``llm``'s texts; ``dimensions`` truncates
    Matryoshka ``dense`` vectors; ``sparse_top_k`` keeps the largest sparse weights only.
    """

    def __init__(
        self,
        llm: Any,
        representations: Sequence[str],
        *,
        sparse_llm: Any = None,
        query_prompt: str = "",
        document_prompt: str = "",
        dimensions: int | None = None,
        sparse_top_k: int | None = None,
        truncate: bool = True,
    ) -> None:
        """``truncate=False``: a text longer than the model takes is an error (for dense and
        sparse outputs; token vectors are always cut to the model's document length)."""
        kinds = tuple(r for r in REPRESENTATIONS if r in representations)
        unknown = sorted(set(representations) - set(REPRESENTATIONS))
        if unknown or not kinds:
            msg = f"Unknown representations {unknown}. Valid: {', '.join(REPRESENTATIONS)}."
            raise ConfigError(msg)
        self.llm, self.sparse_llm, self.kinds = llm, sparse_llm, kinds
        self.query_prompt, self.document_prompt = query_prompt, document_prompt
        self.dimensions, self.sparse_top_k = dimensions, sparse_top_k
        self.truncate = -1 if truncate else None
        self.images = is_vision_model(llm)
        tasks = set(llm.supported_tasks)
        bge_m3 = getattr(llm.model, "family", None) == "bge_m3"
        if "sparse" in kinds and sparse_llm is None:
            _check_sparse(llm)
        if sparse_llm is not None:
            _check_sparse(sparse_llm)
        if "dense" in kinds and "embed" not in tasks:
            msg = f"{llm.model.name!r} has no pooled embedding (tasks {sorted(tasks)})."
            raise ConfigError(msg)
        together = {"dense", "multivector"} | ({"sparse"} if bge_m3 and not sparse_llm else set())
        # One pass when the model gives more than one wanted output together.
        self.one_pass = len(set(kinds) & together) > 1 and {"embed", "token_embed"} <= tasks
        self.vocab_size = int((sparse_llm or llm).vocab_size) if "sparse" in kinds else 0
        self._memo: tuple[tuple[str, ...], Encoded] | None = None

    @property
    def model(self) -> str:
        return str(self.llm.model.name)

    # -- indexing containers -------------------------------------------------------------
    def documents(self, items: Sequence[Any]) -> Encoded:
        """Texts (or page images, for a multi-modal model)."""
        return self._encode(list(items), query=False)

    def queries(self, texts: Sequence[str]) -> Encoded:
        """Query texts; the last batch is remembered, so stages sharing this encoder (first
        stages, rerank stages) encode a query batch once."""
        key, memo = tuple(texts), self._memo  # one read: another thread may replace it
        if memo is None or memo[0] != key:
            memo = (key, self._encode(list(texts), query=True))
            self._memo = memo
        return memo[1]

    # -- retrieval.QueryEncoder and the rerankers' document encoder ------------------------
    def encode_queries(self, queries: Sequence[str]) -> Mapping[str, Any]:
        """``{"dense" | "sparse" | "lexical" | "multivector": batch}`` for a query batch."""
        return self.queries(queries).by_representation()

    def encode_documents(self, documents: Sequence[Any]) -> Mapping[str, Any]:
        """The same representations for documents."""
        return self.documents(documents).by_representation()

    # -- the passes --------------------------------------------------------------------------
    def _encode(self, items: list[Any], *, query: bool) -> Encoded:
        out = Encoded()
        if not items:
            return out
        if "lexical" in self.kinds:
            out.texts = lexical_texts(items)
        llm = self.llm
        texts = self._prompted(items, query)
        if self.one_pass:
            params = {**self._params(), "truncate_prompt_tokens": self.truncate}
            _one_pass(llm, texts, self.kinds, params, out)
        else:
            if "dense" in self.kinds:
                params = self._params()
                results = llm.embed(
                    texts, **params, truncate_prompt_tokens=self.truncate, use_tqdm=False
                )
                out.dense = np.asarray([r.outputs.embedding for r in results], np.float32)
                out.n_tokens += sum(len(r.prompt_token_ids) for r in results)
            if "multivector" in self.kinds:
                side = llm.encode_queries if query else llm.encode_documents
                out.tokens = [t.float().cpu().numpy() for t in side(texts, use_tqdm=False)]
                if out.dense is None:
                    out.n_tokens += sum(len(t) for t in out.tokens)
        if "sparse" in self.kinds and out.sparse is None:
            model = self.sparse_llm or llm
            raw = items if self.sparse_llm is not None else texts
            results = model.embed_sparse(
                raw, top_k=self.sparse_top_k, truncate_prompt_tokens=self.truncate, use_tqdm=False
            )
            out.sparse = [_pair(r.outputs) for r in results]
            if self.kinds == ("sparse",):
                out.n_tokens += sum(len(r.prompt_token_ids) for r in results)
        return out

    def _prompted(self, items: list[Any], query: bool) -> list[Any]:
        prompt = self.query_prompt if query else self.document_prompt
        if not prompt:
            return items
        return [prompt + item if isinstance(item, str) else item for item in items]

    def _params(self) -> dict[str, Any]:
        """``pooling_params`` for ``dimensions`` (none otherwise)."""
        if self.dimensions is None:
            return {}
        from encoders import PoolingParams

        return {"pooling_params": PoolingParams(dimensions=self.dimensions)}


def lexical_texts(items: Sequence[Any]) -> list[str]:
    """What the BM25 index reads of each item: its text (a page image has none: "")."""
    return [item if isinstance(item, str) else "" for item in items]


def _one_pass(
    llm: Any, texts: list[Any], kinds: tuple[str, ...], params: dict[str, Any], out: Encoded
) -> None:
    outputs = llm.embed_hybrid(texts, **params, use_tqdm=False)
    if "dense" in kinds:
        out.dense = np.asarray([o.outputs.dense for o in outputs], np.float32)
    if "multivector" in kinds:
        out.tokens = [o.outputs.multi_vector.float().cpu().numpy() for o in outputs]
    if "sparse" in kinds and all(o.outputs.sparse is not None for o in outputs):
        out.sparse = [_pair(o.outputs.sparse) for o in outputs]
    out.n_tokens += sum(len(o.prompt_token_ids) for o in outputs)


def _pair(sparse: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(sparse.indices, np.int64), np.asarray(sparse.values, np.float32)


def _check_sparse(llm: Any) -> None:
    family = getattr(llm.model, "family", None)
    if family not in ("sparse", "bge_m3"):
        msg = (
            f"--kind sparse needs a sparse model (SPLADE *ForMaskedLM or BGE-M3); "
            f"{llm.model.name!r} is a {family!r} model. Use --kind dense or hybrid."
        )
        raise ConfigError(msg)


def is_vision_model(llm: Any) -> bool:
    """True for multi-modal (ColQwen-style) models, which embed page images."""
    from encoders.vision.colqwen import ColQwenModel

    return isinstance(llm.model, ColQwenModel)


def representations_for(kind: str, llm: Any, *, sparse_llm: Any = None) -> tuple[str, ...]:
    """What a collection of ``kind`` keeps with these models: ``hybrid`` is the pooled vector
    (when the model has one) + the texts for BM25 + token vectors, + sparse weights from a
    SPLADE ``sparse_llm`` or a BGE-M3 ``llm``."""
    kind = check_kind(kind)
    if is_vision_model(llm) and kind != "multivector":
        msg = (
            f"{llm.model.name!r} embeds images and text as token vectors only; use "
            f"--kind multivector (not {kind!r})."
        )
        raise ConfigError(msg)
    if kind != "hybrid":
        return {"dense": ("dense",), "sparse": ("sparse",)}.get(kind, ("multivector",))
    out = ["lexical", "multivector"]
    if "embed" in llm.supported_tasks:
        out.insert(0, "dense")
    if sparse_llm is not None or getattr(llm.model, "family", None) == "bge_m3":
        out.append("sparse")
    return tuple(out)


def configured_prompts(llm: Any) -> tuple[str, str]:
    """The (query, document) prompts of a model's sentence-transformers config: ``query``;
    ``document``, ``passage`` or ``corpus``; else the ``default_prompt_name`` one ("")."""
    if is_vision_model(llm) or getattr(llm.model, "colbert", None) is not None:
        return "", ""  # these models add their own query / document markers
    st_config = getattr(llm.model, "st_config", None)
    prompts: Mapping[str, str] = getattr(st_config, "prompts", None) or {}
    default_name = getattr(st_config, "default_prompt_name", None)
    default = prompts.get(default_name, "") if default_name else ""
    names = [n for n in ("document", "passage", "corpus") if n in prompts]
    return prompts.get("query", default), prompts[names[0]] if names else default


# -- the 0.1 names: one Encoder each --------------------------------------------------------
class TextEncoder(Encoder):
    """Base of the named encoders below (``Encoder`` with a fixed set of representations)."""


class DenseEncoder(TextEncoder):
    """The model's pooled embedding (``LLM.embed``): ``{"dense": (n, d)}``."""

    def __init__(self, llm: Any) -> None:
        super().__init__(llm, ("dense",))


class TokenEncoder(TextEncoder):
    """Token vectors for MaxSim, plus (for models with a pooled embedding) the ``dense``
    vector from the same forward pass: ``{"multivector": [...], "dense": (n, d)}``."""

    def __init__(self, llm: Any) -> None:
        dense = "embed" in llm.supported_tasks and getattr(llm.model, "colbert", None) is None
        super().__init__(llm, ("dense", "multivector") if dense else ("multivector",))


class SparseEncoder(TextEncoder):
    """SPLADE (or BGE-M3 lexical) weights via ``LLM.embed_sparse``: ``{"sparse": ...}``."""

    def __init__(self, llm: Any) -> None:
        super().__init__(llm, ("sparse",))


class HybridEncoder(TextEncoder):
    """BGE-M3: dense, lexical and ColBERT outputs from ONE forward pass (``embed_hybrid``)."""

    def __init__(self, llm: Any) -> None:
        if getattr(llm.model, "family", None) != "bge_m3":
            msg = (
                f"HybridEncoder needs a BGE-M3 model; {llm.model.name!r} is not one. Combine a "
                "TokenEncoder and a SparseEncoder for other models."
            )
            raise ConfigError(msg)
        super().__init__(llm, REPRESENTATIONS)


def encode_in_batches(encoder: Any, texts: Sequence[Any], batch_size: int = 256) -> dict[str, Any]:
    """``encoder.encode_documents`` over ``texts`` in batches, outputs joined per kind (peak
    memory: one batch of model activations plus the outputs)."""
    parts = [
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
            joined[kind] = np.concatenate([np.asarray(v, np.float32) for v in values])
        elif kind == "sparse" and isinstance(values[0], SparseEmbeddings):
            items = [item for batch in values for item in batch]
            joined[kind] = SparseEmbeddings.from_items(items, values[0].vocab_size)
        else:
            joined[kind] = [t for batch in values for t in batch]
    return joined


def join_encoded(parts: Sequence[Encoded]) -> Encoded:
    """Consecutive batches as one."""
    if len(parts) == 1:
        return parts[0]
    out = Encoded(n_tokens=sum(p.n_tokens for p in parts))
    if parts and parts[0].dense is not None:
        out.dense = np.concatenate([p.dense for p in parts if p.dense is not None])
    if parts and parts[0].tokens is not None:
        out.tokens = [t for p in parts for t in p.tokens or []]
    if parts and parts[0].sparse is not None:
        out.sparse = [s for p in parts for s in p.sparse or []]
    if parts and parts[0].texts is not None:
        out.texts = [t for p in parts for t in p.texts or []]
    return out


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
        None if encoded.texts is None else encoded.texts[start:stop],
    )
