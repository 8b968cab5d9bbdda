"""A collection's ``retrieval.Retriever``: the default hybrid of ``retrieval.hybrid`` over its
components, then the rerank stages of its pipeline settings.

The components (``dense``, ``sparse``, ``maxsim``) share the collection's one ``Encoder``, so
a hybrid query runs each model once: ``dense`` / ``sparse`` give candidates, ``maxsim``
rescores them, and every score is fused by ``hybrid_fusion`` - the one place a collection's
fusion is read from its settings (default: ``retrieval.hybrid.DEFAULT_HYBRID``'s). Rerank stages
come from the settings (``[[rerank]]`` of a pipeline TOML) or from ``rerank=MODEL`` (a
cross-encoder over the best ``rerank_depth`` candidates); they read candidates' text from
the collection, and a rerank stage over a representation the first stages already encode
shares their encoder (no second pass over the query).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.collection.config import RerankConfig
from adapters.collection.encoders import Encoder, configured_prompts
from adapters.collection.models import load_model
from adapters.collection.rerankers import (
    CrossEncoderReranker,
    DocumentEmbeddings,
    EmbeddingReranker,
)
from retrieval.filters import Filter
from retrieval.fusion import Fusion
from retrieval.hybrid import HybridPart, fusion_from, hybrid_reranker, hybrid_retriever
from retrieval.retriever import RankedHit, Retriever
from retrieval.stages import RerankStage, RescoreStage
from retrieval.types import Hit

SEARCH_KEYS = ("depth", "fusion", "rrf_k", "weights", "rerank")
"""Settings a search may override (``retrieval search --config``)."""
Present = Callable[[list[RankedHit]], list[RankedHit]]


def hybrid_fusion(settings: Mapping[str, Any]) -> Fusion:
    """How a collection with several stages fuses their scores (``fusion``, ``rrf_k``,
    ``weights`` of its settings; no ``fusion``: the default hybrid's)."""
    return fusion_from(
        settings.get("fusion"),
        rrf_k=settings.get("rrf_k"),
        weights=dict(settings.get("weights") or {}) or None,
    )


class CollectionRetriever:
    """A collection's ``retrieval.Retriever`` (``inner``: its stages, fusion, rerank stages
    - every other attribute is the inner one's) whose hits carry the chunk text
    (``metadata["text"]``) and, for page images, the image's path (``metadata["thumbnail"]``)."""

    def __init__(self, inner: Retriever, present: Present) -> None:
        self.inner = inner
        self._present = present

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return repr(self.inner)

    def search(self, query: str, k: int = 10, filter: Filter | None = None) -> list[RankedHit]:
        return self._present(self.inner.search(query, k=k, filter=filter))

    def search_batch(
        self, queries: Sequence[str], k: int = 10, filter: Filter | None = None
    ) -> list[list[RankedHit]]:
        return [self._present(hits) for hits in self.inner.search_batch(queries, k, filter)]

    def rerank(
        self,
        query: str,
        candidates: Sequence[Hit | str],
        k: int | None = None,
        filter: Filter | None = None,
        *,
        source: str = "candidates",
    ) -> list[RankedHit]:
        return self._present(self.inner.rerank(query, candidates, k, filter, source=source))

    def rerank_batch(
        self,
        queries: Sequence[str],
        candidates: Sequence[Sequence[Hit | str]],
        k: int | None = None,
        filter: Filter | None = None,
        *,
        source: str = "candidates",
    ) -> list[list[RankedHit]]:
        lists = self.inner.rerank_batch(queries, candidates, k, filter, source=source)
        return [self._present(hits) for hits in lists]


class Rerankers:
    """Builds and caches a collection's rerank stages and their document stores."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self._encoders: dict[tuple[str, str], Encoder] = {}
        self.stores: dict[int, DocumentEmbeddings] = {}
        """id(encoder) -> document representations (filled by ``Collection.add`` too)."""

    def stage(self, config: RerankConfig) -> RerankStage:
        texts = self.collection.state.texts()
        device = self.collection.device
        if config.kind == "cross-encoder":
            llm = load_model(str(config.model), device)
            return RerankStage(config.label, CrossEncoderReranker(llm, texts), config.top_n)
        representation = "multivector" if config.kind == "maxsim" else config.kind
        encoder = self.encoder(representation, config.model)
        reranker = EmbeddingReranker(encoder, representation, self.documents(encoder))
        return RerankStage(config.label, reranker, config.top_n)

    def encoder(self, representation: str, model: str | None) -> Any:
        """The collection's own encoder when it gives ``representation`` with ``model``;
        otherwise one more ``Encoder`` over that model (cached)."""
        own = self.collection.encoder
        settings = self.collection.config
        default = settings.sparse_model if representation == "sparse" else settings.model
        name = model or default or settings.model
        if representation in own.kinds and (model is None or name == own.model):
            return own
        key = (representation, name)
        if key not in self._encoders:
            limit = settings.sparse_max_model_len if representation == "sparse" else None
            llm = load_model(name, self.collection.device, max_model_len=limit)
            prompts = ("", "") if representation == "sparse" else configured_prompts(llm)
            if name == own.model and representation != "sparse":
                prompts = (own.query_prompt, own.document_prompt)
            self._encoders[key] = Encoder(
                llm, (representation,), query_prompt=prompts[0], document_prompt=prompts[1]
            )
        return self._encoders[key]

    def documents(self, encoder: Any) -> DocumentEmbeddings:
        """The document-representation store of ``encoder`` (shared by its rerankers)."""
        if id(encoder) not in self.stores:
            self.stores[id(encoder)] = DocumentEmbeddings(encoder, self.collection.state.texts())
        return self.stores[id(encoder)]


def build_retriever(
    collection: Any,
    options: Mapping[str, Any] | None = None,
    *,
    rerank: str | None = None,
    rerank_depth: int = 30,
) -> CollectionRetriever:
    """The Retriever over ``collection``: settings from its pipeline config, overridden by
    ``options`` (``SEARCH_KEYS``); ``rerank`` (a cross-encoder) replaces the rerank stages."""
    settings = {key: getattr(collection.config, key) for key in SEARCH_KEYS}
    settings.update(options or {})
    depth = rerank_depth if rerank else int(settings["depth"])
    encoder = collection.encoder
    parts = [
        HybridPart(part.stage, encoder, part.index, part.representation)
        for part in collection.parts
        if part.index is not None
    ]
    if rerank:
        after = [collection.rerankers.stage(RerankConfig("cross-encoder", model=rerank))]
    else:
        after = [collection.rerankers.stage(_rerank_config(raw)) for raw in settings["rerank"]]
    inner = hybrid_retriever(parts, depth=depth, fusion=hybrid_fusion(settings), rerank=after)
    return CollectionRetriever(inner, collection.present)


def candidate_reranker(collection: Any) -> CollectionRetriever:
    """A Retriever that reranks given candidates (e.g. a BM25 run) with the collection's
    pipeline: each component scores every candidate (same names), fused as the hybrid fuses
    (``retrieval.hybrid.hybrid_reranker``), then the configured rerank stages."""
    encoder = collection.encoder
    rerankers = collection.rerankers
    scorers: list[Any] = []
    for part in collection.parts:
        if part.representation == "lexical":
            # BM25 needs corpus statistics: scored only from a BM25 index of the collection
            # (those of a candidate pool are not); the candidates' own scores are fused.
            if part.index is not None:
                scorers.append(RescoreStage(part.stage, encoder, part.index, "lexical"))
        else:
            store = rerankers.documents(encoder)
            scorers.append((part.stage, EmbeddingReranker(encoder, part.representation, store)))
    settings = {key: getattr(collection.config, key) for key in SEARCH_KEYS}
    later = [rerankers.stage(_rerank_config(raw)) for raw in settings["rerank"]]
    # A hybrid fuses the candidates' own scores too (they stand for its first stages); a
    # single-representation collection ranks by its own score alone.
    hybrid = len(collection.parts) > 1
    fusion = hybrid_fusion(settings)
    inner = hybrid_reranker(scorers, fusion=fusion, rerank=later, fuse_candidates=hybrid)
    return CollectionRetriever(inner, collection.present)


def _rerank_config(raw: Any) -> RerankConfig:
    return raw if isinstance(raw, RerankConfig) else RerankConfig(**raw)
