"""``Pipeline``: the composition root that turns a ``PipelineConfig`` into models, encoders,
indexes and a ``retrieval.Retriever``.

    pipe = Pipeline(PipelineConfig(pipeline="hybrid", sparse_model="...splade"), path="idx/")
    pipe.add(ids, texts, metadata)          # encodes once per encoder, fills every index
    pipe.save()                             # idx/pipeline.json + one folder per index
    hits = pipe.retriever.search("query", k=10, filter={"lang": "en"})
    pipe = Pipeline.open("idx/")            # same config, indexes reopened

First stages by ``config.pipeline`` (stage names label the scores on hits):

* ``dense``: ``dense`` = ``LLM.embed`` vectors in a ``FaissIndex`` (cosine);
* ``sparse``: ``sparse`` = ``LLM.embed_sparse`` (SPLADE) in a ``SparseIndex``;
* ``multivector``: ``maxsim`` = token embeddings in a ``MaxSimIndex`` (exact) or a
  ``late_interaction.PlaidIndex`` (``multivector_index = "plaid"``);
* ``hybrid``: ``retrieval.hybrid.DEFAULT_HYBRID`` over all three: ``dense`` (and ``sparse``)
  candidates, rescored by ``maxsim``, every score fused (agreement-weighted z-scores).
  BGE-M3 gives them from one forward pass; otherwise ``model``'s token states give ``dense``
  and ``maxsim`` (one pass) and ``sparse_model`` gives ``sparse``.

Models are loaded once per (name, max length) and encoders shared, so a rerank stage that
uses the first stage's encoder adds no second pass over the documents.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.pipeline.config import PipelineConfig, RerankConfig
from adapters.pipeline.encoders import (
    DenseEncoder,
    HybridEncoder,
    SparseEncoder,
    TextEncoder,
    TokenEncoder,
    encode_in_batches,
)
from adapters.pipeline.rerankers import (
    CrossEncoderReranker,
    DocumentEmbeddings,
    EmbeddingReranker,
)
from retrieval.errors import ConfigError, IndexNotFoundError
from retrieval.fusion import Fusion
from retrieval.hybrid import HybridPart, fusion_from, hybrid_reranker, hybrid_retriever
from retrieval.protocols import Index
from retrieval.retriever import Retriever
from retrieval.stages import RerankStage

CONFIG_FILE = "pipeline.json"
TEXTS_FILE = "texts.jsonl"
_KIND_OF_STAGE = {"dense": "dense", "sparse": "sparse", "maxsim": "multivector"}


@dataclass
class FirstStagePart:
    """One first stage under construction: its index is created on the first ``add``."""

    name: str
    encoder: TextEncoder
    kind: str
    index: Index | None = None


class Pipeline:
    """Models + encoders + indexes + Retriever for one ``PipelineConfig``.

    ``path=None`` keeps every index in memory; otherwise each lives in ``path/<stage>/``.
    """

    def __init__(self, config: PipelineConfig, *, path: str | os.PathLike[str] | None = None):
        self.config = config
        self.path = None if path is None else Path(path)
        self._models: dict[tuple[str, int | None], Any] = {}
        self._encoders: dict[tuple[str, str, int | None], TextEncoder] = {}
        self.parts = self._first_stage_parts()
        self.texts: dict[str, str] = {}
        self._documents: dict[int, DocumentEmbeddings] = {}
        self._rerank = [self._rerank_stage(r) for r in config.rerank]

    # -- models and encoders ------------------------------------------------------------
    def llm(self, model: str, max_model_len: int | None) -> Any:
        """The ``encoders.LLM`` for ``model`` (loaded once)."""
        key = (model, max_model_len)
        if key not in self._models:
            from encoders import LLM

            overrides = self.config.hf_overrides if model == self.config.model else None
            self._models[key] = LLM(
                model,
                device=self.config.device,
                max_model_len=max_model_len,
                hf_overrides=dict(overrides) if overrides else None,
            )
        return self._models[key]

    def encoder(self, kind: str, model: str, max_model_len: int | None) -> TextEncoder:
        """A shared encoder: ``dense`` | ``tokens`` | ``sparse`` | ``hybrid`` over ``model``."""
        key = (kind, model, max_model_len)
        if key not in self._encoders:
            classes = {
                "dense": DenseEncoder,
                "tokens": TokenEncoder,
                "sparse": SparseEncoder,
                "hybrid": HybridEncoder,
            }
            self._encoders[key] = classes[kind](self.llm(model, max_model_len))
        return self._encoders[key]

    def _sparse_encoder(self) -> TextEncoder:
        cfg = self.config
        if not cfg.sparse_model:
            msg = (
                f"The {cfg.pipeline!r} pipeline needs a SPLADE model: set sparse_model "
                "(CLI: --sparse-model PATH)."
            )
            raise ConfigError(msg)
        return self.encoder("sparse", cfg.sparse_model, cfg.sparse_max_model_len)

    def _first_stage_parts(self) -> list[FirstStagePart]:
        cfg = self.config
        if cfg.pipeline == "dense":
            return [
                FirstStagePart(
                    "dense", self.encoder("dense", cfg.model, cfg.max_model_len), "dense"
                )
            ]
        if cfg.pipeline == "sparse":
            return [FirstStagePart("sparse", self._sparse_encoder(), "sparse")]
        tokens = self.encoder("tokens", cfg.model, cfg.max_model_len)
        if cfg.pipeline == "multivector":
            return [FirstStagePart("maxsim", tokens, "multivector")]
        if getattr(self.llm(cfg.model, cfg.max_model_len).model, "family", None) == "bge_m3":
            hybrid = self.encoder("hybrid", cfg.model, cfg.max_model_len)
            return [FirstStagePart(n, hybrid, k) for n, k in _KIND_OF_STAGE.items()]
        parts = [FirstStagePart("maxsim", tokens, "multivector")]
        if "dense" in tokens.kinds:
            parts.insert(0, FirstStagePart("dense", tokens, "dense"))
        if cfg.sparse_model:
            parts.insert(1, FirstStagePart("sparse", self._sparse_encoder(), "sparse"))
        return parts

    def _rerank_stage(self, rc: RerankConfig) -> RerankStage:
        cfg = self.config
        if rc.kind == "cross-encoder":
            llm = self.llm(str(rc.model), cfg.max_model_len)
            return RerankStage(rc.label, CrossEncoderReranker(llm, self.texts), rc.top_n)
        if rc.kind == "sparse":
            enc = (
                self.encoder("sparse", rc.model, cfg.sparse_max_model_len)
                if rc.model
                else self._sparse_encoder()
            )
        else:
            enc = self.encoder(
                "tokens" if rc.kind == "maxsim" else "dense",
                rc.model or cfg.model,
                cfg.max_model_len,
            )
        kind = "multivector" if rc.kind == "maxsim" else rc.kind
        return RerankStage(rc.label, EmbeddingReranker(enc, kind, self.documents(enc)), rc.top_n)

    def documents(self, encoder: TextEncoder) -> DocumentEmbeddings:
        """The document-representation store of ``encoder`` (shared by its rerankers)."""
        if id(encoder) not in self._documents:
            self._documents[id(encoder)] = DocumentEmbeddings(encoder, self.texts)
        return self._documents[id(encoder)]

    # -- indexing ------------------------------------------------------------------------
    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Encode ``texts`` (once per distinct encoder, in batches) and upsert them into every
        first-stage index; rerank stages get the documents' representations too."""
        if len(ids) != len(texts) or (metadata is not None and len(metadata) != len(ids)):
            msg = f"add got {len(ids)} ids, {len(texts)} texts and metadata of another length."
            raise ConfigError(msg)
        ids, texts = list(ids), list(texts)
        encoded: dict[int, dict[str, Any]] = {}
        for encoder in self._all_encoders():
            encoded[id(encoder)] = encode_in_batches(encoder, texts, self.config.batch_size)
        for part in self.parts:
            values = encoded[id(part.encoder)][part.kind]
            if part.index is None:
                part.index = self._create_index(part, values)
            part.index.add(ids, values, metadata)
        for key, store in self._documents.items():
            if key in encoded:
                store.put(ids, encoded[key])
        if self.config.rerank:
            self.texts.update(zip(ids, texts, strict=True))

    def _all_encoders(self) -> list[TextEncoder]:
        seen: dict[int, TextEncoder] = {id(p.encoder): p.encoder for p in self.parts}
        for store in self._documents.values():
            seen.setdefault(id(store.encoder), store.encoder)
        return list(seen.values())

    def _create_index(self, part: FirstStagePart, values: Any) -> Index:
        folder = None if self.path is None else self.path / part.name
        if part.kind == "dense":
            from indexes import FaissIndex

            dim = int(values.shape[1])
            return FaissIndex.create(folder, dim=dim, kind=self.config.dense_index, metric="cosine")
        if part.kind == "sparse":
            from indexes import SparseIndex

            return SparseIndex.create(folder, vocab_size=values.vocab_size)
        dim = int(values[0].shape[1]) if len(values) else 0
        if self.config.multivector_index == "plaid":
            return _plaid_class().create(folder, dim=dim, **self.config.plaid)
        from adapters.pipeline.maxsim_index import MaxSimIndex

        return MaxSimIndex.create(folder, dim=dim)

    # -- use -----------------------------------------------------------------------------
    @property
    def retriever(self) -> Retriever:
        """The Retriever over the first stages, fusion and rerank stages."""
        missing = [p.name for p in self.parts if p.index is None]
        if missing:
            msg = f"Stages {missing} have no index yet: add documents first."
            raise ConfigError(msg)
        parts = [HybridPart(p.name, p.encoder, p.index, p.kind) for p in self.parts]
        return hybrid_retriever(
            parts, depth=self.config.depth, fusion=self._fusion(), rerank=self._rerank
        )

    def candidate_reranker(self) -> Retriever:
        """A Retriever that reranks given candidates (e.g. a BM25 run) with this pipeline:
        each first stage scores every candidate (same names), fused as the hybrid fuses
        (``retrieval.hybrid.hybrid_reranker``), then the configured rerank stages. Needs
        ``self.texts`` (or ``put_documents``) for the candidates' text."""
        scorers = [
            (p.name, EmbeddingReranker(p.encoder, p.kind, self.documents(p.encoder)))
            for p in self.parts
        ]
        return hybrid_reranker(scorers, fusion=self._fusion(), rerank=self._rerank)

    def put_documents(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Encode documents for ``candidate_reranker`` in bulk (no index is built)."""
        ids, texts = list(ids), list(texts)
        self.texts.update(zip(ids, texts, strict=True))
        for part in self.parts:
            self.documents(part.encoder)
        for encoder in self._all_encoders():
            encoded = encode_in_batches(encoder, texts, self.config.batch_size)
            self._documents[id(encoder)].put(ids, encoded)

    def _fusion(self) -> Fusion:
        cfg = self.config
        return fusion_from(cfg.fusion, rrf_k=cfg.rrf_k, weights=cfg.weights)

    # -- persistence ---------------------------------------------------------------------
    def save(self) -> None:
        """Commit every index and write ``pipeline.json`` (and the texts rerankers need)."""
        if self.path is None:
            msg = "This Pipeline lives in memory (path=None); create it with a path to save."
            raise ConfigError(msg)
        for part in self.parts:
            if part.index is not None:
                part.index.save()
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2))
        if self.texts:
            with (self.path / TEXTS_FILE).open("w", encoding="utf-8") as handle:
                for doc_id, text in self.texts.items():
                    handle.write(json.dumps({"_id": doc_id, "text": text}) + "\n")

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Pipeline:
        """Reopen a saved pipeline: its config, every index and the stored texts."""
        folder = Path(path)
        if not (folder / CONFIG_FILE).is_file():
            msg = f"{str(folder)!r} holds no saved pipeline ({CONFIG_FILE} is missing)."
            raise IndexNotFoundError(msg)
        config = PipelineConfig.from_mapping(json.loads((folder / CONFIG_FILE).read_text()))
        pipeline = cls(config, path=folder)
        for part in pipeline.parts:
            part.index = _open_index(part, folder / part.name)
        if (folder / TEXTS_FILE).is_file():
            with (folder / TEXTS_FILE).open(encoding="utf-8") as handle:
                rows = (json.loads(line) for line in handle)
                pipeline.texts.update((r["_id"], r["text"]) for r in rows)
        return pipeline

    def index_bytes(self) -> int:
        """Bytes on disk of the saved pipeline folder (0 for an in-memory pipeline)."""
        if self.path is None or not self.path.exists():
            return 0
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())


def _open_index(part: FirstStagePart, folder: Path) -> Index:
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("kind") == "maxsim":
        from adapters.pipeline.maxsim_index import MaxSimIndex

        return MaxSimIndex.open(folder)
    if part.kind == "dense":
        from indexes import FaissIndex

        return FaissIndex.open(folder)
    if part.kind == "sparse":
        from indexes import SparseIndex

        return SparseIndex.open(folder)
    opened: Index = _plaid_class().open(folder)
    return opened


def _plaid_class() -> Any:
    import late_interaction

    plaid = getattr(late_interaction, "PlaidIndex", None)
    if plaid is None:
        msg = (
            "late_interaction.PlaidIndex is not available in this version; use "
            'multivector_index = "exact".'
        )
        raise ConfigError(msg)
    return plaid
