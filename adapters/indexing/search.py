"""Searching a document index with ``retrieval.Retriever``.

The index's components (``dense``, ``maxsim`` for the token vectors, ``sparse``) make the
default hybrid of ``retrieval.hybrid`` (dense / sparse candidates rescored by MaxSim, scores
fused; the index's pipeline TOML may name another fusion), all sharing the index's query
encoder, so a hybrid query runs the model once. Rerank stages come from that TOML
(``[[rerank]]``) or from ``rerank=MODEL`` (a cross-encoder over the stored chunk texts).
"""

from __future__ import annotations

from typing import Any

from adapters.indexing.encode import Embedder
from adapters.indexing.models import load_model
from adapters.indexing.store import DocumentIndex
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.hybrid import DEFAULT_HYBRID, HybridPart, fusion_from, hybrid_retriever
from retrieval.retriever import RankedHit, Retriever
from retrieval.stages import RerankStage

STAGES = {
    "dense": ("dense", "dense"),
    "tokens": ("maxsim", "multivector"),
    "sparse": ("sparse", "sparse"),
}
"""Index component -> (stage name on hits' ``scores``, query representation)."""


class Searcher:
    """An open index with its query encoder, ready for many queries."""

    def __init__(self, index: DocumentIndex, *, device: str = "auto") -> None:
        self.index = index
        self.device = device
        self.embedder = Embedder(load_model(index.settings.model, device), index.settings.kind)

    @classmethod
    def open(cls, path: str, *, device: str = "auto") -> Searcher:
        return cls(DocumentIndex.open(path), device=device)

    def retriever(
        self,
        *,
        rerank: str | None = None,
        rerank_depth: int = 30,
        options: dict[str, Any] | None = None,
    ) -> Retriever:
        """The Retriever over this index: its components as first stages, fused, then the
        rerank stages of ``options`` (default: the index's pipeline settings), or a
        ``rerank`` cross-encoder over the best ``rerank_depth`` candidates of each stage."""
        options = self.index.settings.search if options is None else options
        depth = rerank_depth if rerank else int(options.get("depth", DEFAULT_HYBRID.depth))
        parts = [
            HybridPart(STAGES[name][0], self.embedder, part, STAGES[name][1])
            for name, part in self.index.parts.items()
        ]
        fusion = fusion_from(
            options.get("fusion"), rrf_k=options.get("rrf_k"), weights=options.get("weights")
        )
        if rerank:
            from adapters.pipeline import CrossEncoderReranker

            reranker = CrossEncoderReranker(load_model(rerank, self.device))
            stages_after = [RerankStage("cross-encoder", reranker)]
        else:
            stages_after = [self._rerank_stage(raw) for raw in options.get("rerank", [])]
        return hybrid_retriever(parts, depth=depth, fusion=fusion, rerank=stages_after)

    def search(
        self,
        query: str,
        k: int = 10,
        filter: Filter | None = None,
        *,
        rerank: str | None = None,
        rerank_depth: int = 30,
        options: dict[str, Any] | None = None,
    ) -> list[RankedHit]:
        """The best ``k`` chunks for ``query`` (matching ``filter``), best first; each hit's
        ``scores`` holds every stage's score."""
        if not query.strip():
            msg = "The query is empty; give a question or keywords to search for."
            raise ConfigError(msg)
        if len(self.index) == 0:
            msg = (
                f"The index at {self.index.path} holds no documents yet. Add some with: "
                f"retrieval index SOURCE --index {self.index.path}"
            )
            raise ConfigError(msg)
        retriever = self.retriever(rerank=rerank, rerank_depth=rerank_depth, options=options)
        return retriever.search(query, k=k, filter=filter)

    def _rerank_stage(self, raw: dict[str, Any]) -> RerankStage:
        from adapters.pipeline import (
            CrossEncoderReranker,
            DenseEncoder,
            DocumentEmbeddings,
            EmbeddingReranker,
            RerankConfig,
            SparseEncoder,
            TokenEncoder,
        )

        config = RerankConfig(**raw)
        if config.kind == "cross-encoder":
            reranker: Any = CrossEncoderReranker(load_model(str(config.model), self.device))
            return RerankStage(config.label, reranker, config.top_n)
        model = config.model or self.index.settings.model
        classes = {"maxsim": TokenEncoder, "dense": DenseEncoder, "sparse": SparseEncoder}
        encoder = classes[config.kind](load_model(model, self.device))
        kind = "multivector" if config.kind == "maxsim" else config.kind
        # Documents are encoded from their stored chunk text on first use, then kept.
        reranker = EmbeddingReranker(encoder, kind, DocumentEmbeddings(encoder))
        return RerankStage(config.label, reranker, config.top_n)

    def close(self) -> None:
        self.index.close()
