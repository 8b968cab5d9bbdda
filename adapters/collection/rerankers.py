"""Rerankers (``retrieval.Reranker``): cross-encoder, embedding scorers and score fusion.

* ``CrossEncoderReranker`` reads each (query, document text) pair jointly via ``LLM.score``.
* ``EmbeddingReranker`` scores candidates with one representation of a ``TextEncoder``
  against stored document representations: ``dense`` dot product (cosine for normalised
  vectors), ``sparse`` dot product (SPLADE), ``multivector`` MaxSim.
* ``ScoreFusionReranker`` fuses scores earlier rerank stages left on the hits (RRF or
  weighted), so a hybrid rerank keeps every component score.

Document text comes from a ``Mapping[id, text]`` or, when none is given, ``hit.metadata
["text"]``; document representations come from a ``DocumentEmbeddings`` store that encodes
missing ids on first use and keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from adapters.collection.encoders import TextEncoder, join_outputs
from late_interaction import maxsim
from retrieval.errors import ConfigError
from retrieval.fusion import Fusion
from retrieval.retriever import RankedHit
from retrieval.types import Hit


def texts_of(hits: Sequence[Hit], texts: Mapping[str, str] | None) -> list[str]:
    """The document text of each hit, from ``texts`` or ``hit.metadata["text"]``."""
    out = []
    for hit in hits:
        text = texts.get(hit.id) if texts is not None else hit.metadata.get("text")
        if not isinstance(text, str):
            where = "the texts mapping" if texts is not None else 'its metadata["text"]'
            msg = f"No text for candidate {hit.id!r} in {where}; rerankers need document text."
            raise ConfigError(msg)
        out.append(text)
    return out


class CrossEncoderReranker:
    """Scores (query, text) pairs with a cross-encoder ``LLM`` (``llm.score(query, texts)``)."""

    def __init__(self, llm: Any, texts: Mapping[str, str] | None = None) -> None:
        self.llm, self.texts = llm, texts

    def score(
        self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]
    ) -> list[list[float]]:
        out: list[list[float]] = []
        for query, hits in zip(queries, candidates, strict=True):
            if not hits:
                out.append([])
                continue
            docs = texts_of(hits, self.texts)
            scored = self.llm.score(query, docs, truncate_prompt_tokens=-1, use_tqdm=False)
            out.append([float(o.outputs.score) for o in scored])
        return out


class DocumentEmbeddings:
    """Document representations by id: filled in bulk (``put``) or encoded on first use."""

    def __init__(self, encoder: TextEncoder, texts: Mapping[str, str] | None = None) -> None:
        self.encoder, self.texts = encoder, texts
        self._items: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, ids: Sequence[str], encoded: Mapping[str, Any]) -> None:
        """Store the per-kind outputs of ``encoder.encode_documents`` for ``ids``."""
        for kind, values in encoded.items():
            for doc_id, item in zip(ids, _items(kind, values), strict=True):
                self._items.setdefault(doc_id, {})[kind] = item

    def get(self, hits: Sequence[Hit], kind: str) -> list[Any]:
        """The ``kind`` representation of each hit (encoding the ones not seen yet)."""
        missing = list(dict.fromkeys(h.id for h in hits if h.id not in self._items))
        if missing:
            by_id = {h.id: h for h in hits}
            texts = texts_of([by_id[i] for i in missing], self.texts)
            self.put(missing, join_outputs([self.encoder.encode_documents(texts)]))
        try:
            return [self._items[h.id][kind] for h in hits]
        except KeyError:
            msg = f"The document encoder gives {sorted(self.encoder.kinds)}, not {kind!r}."
            raise ConfigError(msg) from None


def _items(kind: str, values: Any) -> list[Any]:
    if kind == "sparse":
        return list(values)  # (indices, values) pairs
    if kind == "dense":
        return list(np.asarray(values, np.float32))
    return list(values)


class EmbeddingReranker:
    """Scores candidates by one representation: ``dense`` dot, ``sparse`` dot, or
    ``multivector`` MaxSim between the query (``encoder.encode_queries``) and the stored
    document representations (``documents``)."""

    def __init__(self, encoder: TextEncoder, kind: str, documents: DocumentEmbeddings) -> None:
        if kind not in ("dense", "sparse", "multivector"):
            msg = f"Unknown representation {kind!r}. Valid: dense, sparse, multivector."
            raise ConfigError(msg)
        self.encoder, self.kind, self.documents = encoder, kind, documents

    def score(
        self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]
    ) -> list[list[float]]:
        encoded = self.encoder.encode_queries(queries)
        if self.kind not in encoded:
            msg = f"The query encoder gives {sorted(encoded)}, not {self.kind!r}."
            raise ConfigError(msg)
        reps = _items(self.kind, encoded[self.kind])
        return [
            self._score(rep, self.documents.get(hits, self.kind)).tolist() if hits else []
            for rep, hits in zip(reps, candidates, strict=True)
        ]

    def _score(self, query: Any, docs: list[Any]) -> np.ndarray:
        if self.kind == "dense":
            return np.stack(docs) @ np.asarray(query, np.float32)
        if self.kind == "sparse":
            return np.array([_sparse_dot(query, d) for d in docs], np.float64)
        return maxsim(torch.as_tensor(query), docs).numpy()


def _sparse_dot(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    _, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
    return float(np.dot(a[1][ia].astype(np.float64), b[1][ib].astype(np.float64)))


class ScoreFusionReranker:
    """Fuses the scores earlier stages recorded on each hit (``hit.scores[name]``) into one.

    ``names`` are the stages to fuse; ``fusion`` is RRF (by rank within this candidate list)
    or weighted normalised scores. A hit lacking a stage's score counts as absent from that
    stage's list.
    """

    def __init__(self, names: Sequence[str], fusion: Fusion | None = None) -> None:
        if not names:
            msg = "ScoreFusionReranker needs the names of the stages to fuse."
            raise ConfigError(msg)
        self.names, self.fusion = tuple(names), fusion or Fusion()

    def score(
        self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]
    ) -> list[list[float]]:
        out = []
        for hits in candidates:
            rankings = {}
            for name in self.names:
                scored = [
                    Hit(h.id, h.scores[name])
                    for h in hits
                    if isinstance(h, RankedHit) and name in h.scores
                ]
                rankings[name] = sorted(scored, key=lambda h: -h.score)
            fused = dict(self.fusion.fuse(rankings))
            out.append([fused.get(h.id, 0.0) for h in hits])
        return out
