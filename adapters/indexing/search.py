"""Searching a document index: encode the query, search each component, fuse, rerank.

Kinds with one component return that component's ranking. ``hybrid`` fuses the dense and
the token (MaxSim) rankings with reciprocal-rank fusion, ``sum 1 / (60 + rank)``; the fused
score is reported. ``rerank`` re-scores the best ``rerank_depth`` candidates with a
cross-encoder (``LLM.score`` over the chunk texts) and orders them by that score.
"""

from __future__ import annotations

from typing import Any

from adapters.indexing.encode import Embedder
from adapters.indexing.models import load_model
from adapters.indexing.store import DocumentIndex
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.types import Hit

RRF_K = 60
"""Reciprocal-rank fusion constant (Cormack et al. 2009; also Elasticsearch's default)."""
_REPRESENTATION = {"dense": "dense", "tokens": "multivector", "sparse": "sparse"}


class Searcher:
    """An open index with its query encoder, ready for many queries."""

    def __init__(self, index: DocumentIndex, *, device: str = "auto") -> None:
        self.index = index
        self.embedder = Embedder(load_model(index.settings.model, device), index.settings.kind)
        self.device = device

    @classmethod
    def open(cls, path: str, *, device: str = "auto") -> Searcher:
        return cls(DocumentIndex.open(path), device=device)

    def search(
        self,
        query: str,
        k: int = 10,
        filter: Filter | None = None,
        *,
        rerank: str | None = None,
        rerank_depth: int = 30,
        depth: int = 100,
    ) -> list[Hit]:
        """The best ``k`` chunks for ``query`` (matching ``filter``), best first."""
        if not query.strip():
            msg = "The query is empty; give a question or keywords to search for."
            raise ConfigError(msg)
        if len(self.index) == 0:
            msg = (
                f"The index at {self.index.path} holds no documents yet. Add some with: "
                f"retrieval index SOURCE --index {self.index.path}"
            )
            raise ConfigError(msg)
        wanted = max(k, rerank_depth if rerank else 0)
        reps = self.embedder.encode_queries([query])
        rankings = [
            part.search(reps[_REPRESENTATION[name]][0], k=max(depth, wanted), filter=filter)
            for name, part in self.index.parts.items()
        ]
        hits = rankings[0][:wanted] if len(rankings) == 1 else fuse(rankings)[:wanted]
        if rerank:
            hits = rerank_hits(load_model(rerank, self.device), query, hits[:rerank_depth])
        return hits[:k]

    def close(self) -> None:
        self.index.close()


def fuse(rankings: list[list[Hit]]) -> list[Hit]:
    """Reciprocal-rank fusion of best-first lists; ties keep first-seen order."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, 1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (RRF_K + rank)
            first.setdefault(hit.id, hit)
    order = sorted(scores, key=lambda i: -scores[i])
    return [Hit(i, scores[i], first[i].metadata) for i in order]


def rerank_hits(llm: Any, query: str, hits: list[Hit]) -> list[Hit]:
    """Re-score ``hits`` with a cross-encoder over their stored chunk text."""
    if not hits:
        return hits
    texts = [str(hit.metadata.get("text", "")) for hit in hits]
    outputs = llm.score(query, texts, use_tqdm=False)
    scored = [
        Hit(h.id, float(o.outputs.score), h.metadata) for h, o in zip(hits, outputs, strict=True)
    ]
    return sorted(scored, key=lambda h: -h.score)
