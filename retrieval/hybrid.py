"""The default hybrid: one definition that every door builds its hybrid search from.

``retrieval eval --pipeline hybrid``, ``retrieval index --kind hybrid`` / ``retrieval search``,
``adapters.pipeline.Pipeline``, the server's ``/v1/search`` and the LangChain retriever all
call ``hybrid_retriever`` (or ``hybrid_reranker`` for given candidates) with
``DEFAULT_HYBRID``, so they rank the same way:

1. the cheap whole-collection stages (``dense`` FAISS, ``lexical`` BM25 over the chunk
   texts - no model needed, so every hybrid has one - and ``sparse`` SPLADE when the pipeline
   has a sparse model) return their best candidates: 100 in all (``HybridSpec.depth``),
   shared out evenly, so 50 each for dense + BM25;
2. the token-vector index (``multivector``: exact MaxSim or PLAID) **rescores** every
   candidate by id (``score_ids``) instead of searching the whole collection: the costly
   scorer reads only the candidates, so a query costs about what the dense search does;
3. every stage's score is fused over the candidates (``retrieval.fusion.DEFAULT_FUSION``):
   per-query z-scores, averaged with weights equal to each stage's agreement with the others
   on this query (Pearson correlation, floored at 0).

Given candidates (``hybrid_reranker``, e.g. a BM25 run to rerank) take the first stages'
place: every part scores every candidate and the candidates' own scores are fused as one
more stage's.

Why (measured on the dev sets only; BENCHMARKS.md, "Fusion and cascades"): BM25 is the
evidence a model's pooled and token vectors do not share - exact words, rare terms, names -
and the one part that needs no model (a model's dense and token vectors are two views of one
encoder: fused alone they barely beat the better view); score fusion keeps
how far a stage's top stands above the rest, where equal-weight RRF gives every rank the same
vote; z-scores are scale-free (min-max lets one outlier set the scale, DBSF's clipping drops
the lead of a standout top); agreement weights make a stage that is lost on a query (the
weak-retriever case) nearly voiceless at a small cost when every stage is sound; and
rescoring the union of the first stages' candidates gives every candidate the costly score,
at a depth no set tuned. Weights stay 1: no per-collection tuning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.errors import ConfigError
from retrieval.fusion import DEFAULT_FUSION, Fusion
from retrieval.fusion_names import FUSION_CHOICES
from retrieval.protocols import Reranker
from retrieval.retriever import Retriever
from retrieval.stages import IndexStage, RerankStage, RescoreStage


@dataclass(frozen=True)
class HybridSpec:
    """How the hybrid is put together from whatever stages an index or pipeline has."""

    depth: int = 100
    """Candidates the whole-collection stages return per query in all, shared out evenly
    (``ceil(depth / n)`` each: 50 for dense + BM25, 34 with SPLADE too), so the rescoring
    reads about as many candidates whatever the number of first stages; a search for more
    (``k``) takes ``k`` from each."""
    fusion: Fusion = DEFAULT_FUSION
    """How every stage's score is fused over the candidates."""
    first: tuple[str, ...] = ("dense", "sparse", "lexical")
    """Representations searched over the whole collection."""
    rescore: tuple[str, ...] = ("multivector",)
    """Representations that only rescore the candidates (when a first stage exists)."""


DEFAULT_HYBRID = HybridSpec()
"""The hybrid every door uses unless told otherwise."""


@dataclass(frozen=True)
class HybridPart:
    """One component of a hybrid: a stage name, the query encoder, its index and which of
    the encoder's outputs the index takes (``dense | sparse | multivector``)."""

    name: str
    encoder: Any
    index: Any
    representation: str


def fusion_from(
    name: str | None = None,
    *,
    rrf_k: float | None = None,
    weights: Mapping[str, float] | None = None,
    spec: HybridSpec = DEFAULT_HYBRID,
) -> Fusion:
    """The ``Fusion`` a config / flag names (``None``: the spec's own)."""
    if name is None or name == "agreement":
        base = spec.fusion if name is None else DEFAULT_FUSION
    elif name == "rrf":
        base = Fusion("rrf")
    elif name in FUSION_CHOICES:
        normalize = "minmax" if name == "weighted" else name
        base = Fusion("weighted", normalize=normalize)  # type: ignore[arg-type]
    else:
        msg = f"Unknown fusion {name!r}. Valid: {', '.join(FUSION_CHOICES)}."
        raise ConfigError(msg)
    return Fusion(
        base.method,
        rrf_k=base.rrf_k if rrf_k is None else float(rrf_k),
        weights=dict(base.weights) if weights is None else dict(weights),
        normalize=base.normalize,
        weighting=base.weighting,
    )


def hybrid_retriever(
    parts: Sequence[HybridPart],
    *,
    spec: HybridSpec = DEFAULT_HYBRID,
    depth: int | None = None,
    fusion: Fusion | None = None,
    rerank: Sequence[RerankStage] = (),
) -> Retriever:
    """The hybrid ``Retriever`` over ``parts``: parts whose representation is in
    ``spec.first`` are first stages (``depth`` candidates each), parts in ``spec.rescore``
    rescore the candidates, all scores fused by ``fusion`` (default ``spec.fusion``), then the
    ``rerank`` stages. With no first-stage part, the first rescore part searches instead.
    ``depth`` (default ``spec.depth``) candidates in all are shared out among the searching
    stages (see ``HybridSpec.depth``)."""
    if not parts:
        msg = "A hybrid needs at least one part (an encoder with its index)."
        raise ConfigError(msg)
    total = spec.depth if depth is None else depth
    first = [p for p in parts if p.representation in spec.first]
    later = [p for p in parts if p.representation not in spec.first]
    if not first:
        first, later = later[:1], later[1:]
    rescore = [p for p in later if p.representation in spec.rescore]
    searched = [*first, *(p for p in later if p not in rescore)]
    each = -(-total // len(searched))  # ceil: the union is at least ``total`` when disjoint
    return Retriever(
        [IndexStage(p.name, p.encoder, p.index, p.representation, each) for p in searched],
        rescore=[RescoreStage(p.name, p.encoder, p.index, p.representation) for p in rescore],
        fusion=fusion or spec.fusion,
        rerank=rerank,
    )


def hybrid_reranker(
    scorers: Sequence[tuple[str, Reranker] | RescoreStage],
    *,
    spec: HybridSpec = DEFAULT_HYBRID,
    fusion: Fusion | None = None,
    rerank: Sequence[RerankStage] = (),
    fuse_candidates: bool = True,
) -> Retriever:
    """The hybrid over given candidates (``Retriever.rerank``, e.g. a BM25 top 100): every
    ``(name, reranker)`` (or ``RescoreStage``: an index's score by id) scores every
    candidate, and (``fuse_candidates``) the candidates' own scores stand for the first
    stages' (fused, as ``hybrid_retriever`` fuses its first stages' scores)."""
    return Retriever(
        rescore=[s if isinstance(s, RescoreStage) else RerankStage(*s) for s in scorers],
        fusion=fusion or spec.fusion,
        rerank=rerank,
        fuse_candidates=fuse_candidates,
    )
