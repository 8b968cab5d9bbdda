"""``Collection``: the one thing every door of the toolkit creates and opens.

A collection is chunks (text, metadata, ids, source offsets), the vector indexes over them
(dense FAISS, sparse, exact MaxSim or PLAID; a hybrid keeps several), the encoder that made
the vectors, the pipeline settings that search them (fusion, rerank stages) and, when built
from sources, the incremental indexing state - in one versioned folder
(``adapters.collection.format``) or in memory.

    collection = Collection(PipelineConfig(pipeline="hybrid"), path="my-index")
    collection.add(ids, texts, metadata)      # one encoding pass per model
    collection.save()                         # indexes, then chunks + state, then manifest
    hits = Collection.open("my-index").search("what is a shock wave?", k=10)
    hits[0].id, hits[0].score, hits[0].metadata["text"], hits[0].scores

``retrieval index`` fills one from files, ``RetrievalVectorStore`` from LangChain, and
``retrieval search``, ``serve --index``, ``eval --index`` and ``RetrievalVectorStore.load``
open it; ``Pipeline`` is the same class under its 0.1 name.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.collection.components import Component, create_index, open_index, plan
from adapters.collection.config import PipelineConfig
from adapters.collection.encoders import (
    Encoded,
    Encoder,
    configured_prompts,
    join_encoded,
    lexical_texts,
    representations_for,
)
from adapters.collection.format import (
    DB_FILE,
    KIND,
    CollectionManifest,
    check_new_folder,
    disk_generation,
    layout,
    read_manifest,
    write_manifest,
    writer_lock,
)
from adapters.collection.models import encoder_spec, load_model, load_models, primary_model
from adapters.collection.pages import PageFiles
from adapters.collection.search import (
    CollectionRetriever,
    Rerankers,
    build_retriever,
    candidate_reranker,
)
from adapters.collection.state import CollectionState
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.retriever import RankedHit
from retrieval.storage import MANIFEST_NAME
from retrieval.stored_index import check_ids


class Collection(PageFiles):
    """Chunks, their vectors and the settings that search them (module docstring).

    ``Collection(config, path=...)`` makes a NEW collection from a ``PipelineConfig``
    (``path=None``: in memory); ``Collection.open(path)`` opens a saved one. ``encoder``
    replaces the config's models (LangChain stores pass their embeddings this way);
    ``components`` the planned indexes; ``chunking`` records how sources were chunked;
    ``page_images`` keeps page images of image hits (longest side in pixels).
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        encoder: Any = None,
        spec: Mapping[str, Any] | None = None,
        components: list[Component] | None = None,
        chunking: Mapping[str, int] | None = None,
        page_images: int = 0,
        device: str | None = None,
    ) -> None:
        config = config or PipelineConfig()
        if encoder is None:
            llm, sparse = load_models(config, device)
            kinds = representations_for(config.pipeline, llm, sparse_llm=sparse)
            prompts = ("", "") if config.pipeline == "sparse" else configured_prompts(llm)
            encoder = Encoder(llm, kinds, sparse_llm=sparse, query_prompt=prompts[0],
                              document_prompt=prompts[1])  # fmt: skip
        if spec is None:
            spec = encoder_spec(encoder)
        parts = components if components is not None else plan(tuple(encoder.kinds), config)
        folder = None if path is None else Path(path)
        for part in parts:
            if folder is not None and part.path is None:
                part.path = part.name
        chunks = dict(chunking) if chunking else None
        manifest = CollectionManifest(config, dict(spec), parts, chunks, page_images)
        if folder is not None:
            # a caller's own index may already sit in the folder (its component)
            given = {Path(p.path).parts[0] for p in parts if p.index is not None and p.path}
            check_new_folder(folder, given)
            folder.mkdir(parents=True, exist_ok=True)
        self._setup(folder, manifest, encoder, device)
        if folder is not None:
            with writer_lock(folder):
                write_manifest(folder, manifest)

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], config: PipelineConfig | None = None, **kwargs: Any
    ) -> Collection:
        """A new collection in the folder ``path`` (see the class docstring)."""
        return cls(config, path=path, **kwargs)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        encoder: Any = None,
        device: str | None = None,
        verify: bool = True,
    ) -> Collection:
        """Open a saved collection; its models load on first use (or pass ``encoder``).
        Checksums are verified unless ``verify=False``."""
        folder = Path(path)
        manifest = read_manifest(folder)
        collection = cls.__new__(cls)
        collection._setup(folder, manifest, encoder, device)
        for part in collection.parts:
            where = collection._folder_of(part)
            if where is not None and (where / MANIFEST_NAME).is_file():
                part.index = open_index(where, verify=verify)
        return collection

    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        return layout(Path(path)) == KIND

    def _setup(
        self, path: Path | None, manifest: CollectionManifest, encoder: Any, device: str | None
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.device = device or manifest.config.device
        self.parts: list[Component] = manifest.components
        self.state = CollectionState(None if path is None else path / DB_FILE)
        self.rerankers = Rerankers(self)
        self._encoder = encoder
        self._lock = threading.RLock()
        self._retriever: CollectionRetriever | None = None

    # -- what it is ---------------------------------------------------------------------
    @property
    def config(self) -> PipelineConfig:
        return self.manifest.config

    @property
    def encoder(self) -> Any:
        """The collection's encoder (its models load on first use)."""
        if self._encoder is None:
            from adapters.collection.models import build_encoder

            self._encoder = build_encoder(self.config, self.manifest.encoder, self.device)
        return self._encoder

    @property
    def texts(self) -> Any:
        """``id -> chunk text``, read-only (what rerankers read candidates' text from)."""
        return self.state.texts()

    @property
    def model(self) -> str:
        """The model whose vectors the collection keeps (``sparse_model`` for sparse)."""
        return primary_model(self.config)[0]

    def __len__(self) -> int:
        """Number of chunks (its indexes' count: no scan of the chunk store)."""
        for part in self.parts:
            if part.index is not None:
                return len(part.index)
        return self.state.count_chunks()

    @property
    def empty(self) -> bool:
        """True until every index holds something to search."""
        return not self.parts or any(p.index is None or not len(p.index) for p in self.parts)

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.state.close()

    # -- writing --------------------------------------------------------------------------
    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[Any],
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        encoded: Encoded | None = None,
    ) -> None:
        """Upsert chunks: encode ``texts`` (page images too, for an image model) once per
        model, unless ``encoded`` holds their vectors, and add them to every index."""
        ids = check_ids(ids, unique=True)
        items = list(texts)
        if len(items) != len(ids) or (metadata is not None and len(metadata) != len(ids)):
            msg = f"add got {len(ids)} ids, {len(items)} texts and metadata of another length."
            raise ConfigError(msg)
        if not ids:
            return
        metas = [dict(m or {}) for m in metadata] if metadata is not None else [{}] * len(ids)
        if encoded is None:
            encoded = self._encode(items)
        values = encoded.by_representation()
        values.setdefault("lexical", lexical_texts(items))  # batches encoded elsewhere (Ray)
        with self._lock:
            self._create_components(values)
            for part in self.parts:
                part.index.add(ids, values[part.representation], metas)
            self.state.put_chunks(ids, [t if isinstance(t, str) else None for t in items], metas)
            if self.path is None:
                self.state.commit()
            store = self.rerankers.stores.get(id(self._encoder))
            if store is not None:
                store.put(ids, values)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks from every index and the chunk store; unknown ids are ignored."""
        ids = check_ids(ids, unique=False)
        with self._lock:
            for part in self.parts:
                if part.index is not None:
                    part.index.delete(ids)
            self.state.drop_chunks(ids)
            if self.path is None:
                self.state.commit()

    def save(
        self,
        done: Mapping[str, tuple[str, list[str], int]] | None = None,
        forget: Sequence[str] = (),
    ) -> None:
        """Commit: every index, then chunks and indexing state (``done`` / ``forget``
        units) in one transaction, then the manifest. Refused when another writer saved
        since this collection was opened (its changes would be lost)."""
        if self.path is None:
            msg = "This collection lives in memory (path=None); create it with a path to save."
            raise ConfigError(msg)
        with self._lock, writer_lock(self.path):
            if disk_generation(self.path) != self.manifest.generation:
                msg = (
                    f"The collection at {self.path} was saved by another writer since it was "
                    "opened here; reopen it and redo these changes (saving now would lose "
                    "theirs)."
                )
                raise ConfigError(msg)
            for part in self.parts:
                if part.index is not None:
                    part.index.save()
            self.state.commit(done, forget)
            self.manifest.count = len(self)
            write_manifest(self.path, self.manifest)

    def _encode(self, items: list[Any]) -> Encoded:
        step = self.config.batch_size
        return join_encoded(
            [self.encoder.documents(items[i : i + step]) for i in range(0, len(items), step)]
        )

    def _create_components(self, values: Mapping[str, Any]) -> None:
        """Create the indexes not made yet, sized from the first batch."""
        for part in self.parts:
            if part.index is not None:
                continue
            if part.representation not in values:
                msg = (
                    f"The encoder gives {sorted(values)}, not the {part.representation!r} "
                    f"vectors the {part.name!r} index keeps."
                )
                raise ConfigError(msg)
            where = self._folder_of(part)
            if where is not None and where.exists():
                shutil.rmtree(where)  # a creation killed before its first commit
            vocab = int(getattr(self.encoder, "vocab_size", 0) or 0)
            part.index = create_index(part, where, values[part.representation], vocab)
            self._retriever = None

    def _folder_of(self, part: Component) -> Path | None:
        if self.path is None or part.path is None:
            return None
        return Path(part.path) if Path(part.path).is_absolute() else self.path / part.path

    # -- searching ------------------------------------------------------------------------
    @property
    def retriever(self) -> CollectionRetriever:
        """The Retriever over the first stages, fusion and rerank stages of the settings;
        its hits carry the chunk text in ``metadata["text"]``."""
        missing = [p.stage for p in self.parts if p.index is None]
        if missing:
            msg = f"Stages {missing} have no index yet: add documents first."
            raise ConfigError(msg)
        if self._retriever is None:
            self._retriever = build_retriever(self)
        return self._retriever

    def retriever_with(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        rerank: str | None = None,
        rerank_depth: int = 30,
    ) -> CollectionRetriever:
        """A Retriever with search settings overridden (``depth``, ``fusion``, ``rrf_k``,
        ``weights``, ``rerank`` stages), or a ``rerank`` cross-encoder over the best
        ``rerank_depth`` candidates instead of the configured rerank stages."""
        self.retriever  # noqa: B018 - the same checks
        return build_retriever(self, options, rerank=rerank, rerank_depth=rerank_depth)

    def search(
        self,
        query: str,
        k: int = 10,
        filter: Filter | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        rerank: str | None = None,
        rerank_depth: int = 30,
    ) -> list[RankedHit]:
        """The best ``k`` chunks for ``query`` among those matching ``filter``, best first;
        each hit's ``scores`` holds every stage's score."""
        if not isinstance(query, str) or not query.strip():
            msg = "The query is empty; give a question or keywords to search for."
            raise ConfigError(msg)
        if self.empty:
            where = self.path or "this collection"
            msg = (
                f"The index at {where} holds no documents yet. Add some with: "
                f"retrieval index SOURCE --index {where}"
            )
            raise ConfigError(msg)
        if options is None and rerank is None:
            return self.retriever.search(query, k=k, filter=filter)
        retriever = self.retriever_with(options, rerank=rerank, rerank_depth=rerank_depth)
        return retriever.search(query, k=k, filter=filter)

    def candidate_reranker(self) -> CollectionRetriever:
        """A Retriever that reranks candidates you have (e.g. a BM25 run) with this
        collection's encoders and rerank stages (see ``put_documents``)."""
        return candidate_reranker(self)

    def put_documents(
        self, ids: Sequence[str], texts: Sequence[str], *, encoded: Encoded | None = None
    ) -> None:
        """Keep documents' text and encode them (unless ``encoded`` holds their vectors) for
        ``candidate_reranker`` (no index)."""
        ids, texts = list(ids), list(texts)
        self.state.put_chunks(ids, texts, [{}] * len(ids))
        if self.path is None:
            self.state.commit()
        values = (encoded or self._encode(texts)).by_representation()
        self.rerankers.documents(self.encoder).put(ids, values)

    def present(self, hits: list[RankedHit]) -> list[RankedHit]:
        """Hits with their chunk text in ``metadata["text"]`` and, for page images, the
        absolute path of the kept image in ``metadata["thumbnail"]``."""
        found = self.state.chunks([h.id for h in hits])
        out = []
        for hit in hits:
            metadata = dict(hit.metadata)
            text = found.get(hit.id, (None, {}))[0]
            if text is not None:
                metadata["text"] = text
            out.append(replace(hit, metadata=self._absolute(metadata)))
        return out

    def documents(self, ids: Sequence[str]) -> dict[str, tuple[str | None, dict[str, Any]]]:
        """``id -> (text, metadata)`` of the chunks present (text None for page images)."""
        found = self.state.chunks(list(ids))
        return {i: (text, self._absolute(meta)) for i, (text, meta) in found.items()}

    def index_bytes(self) -> int:
        """Bytes on disk of the collection folder (0 in memory)."""
        if self.path is None or not self.path.exists():
            return 0
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def llm(self, model: str, max_model_len: int | None = None) -> Any:
        """The loaded ``encoders.LLM`` for ``model`` (cached per process)."""
        overrides = self.config.hf_overrides if model == self.config.model else None
        return load_model(model, self.device, max_model_len=max_model_len, hf_overrides=overrides)


Pipeline = Collection
"""The 0.1 name of ``Collection`` (``Pipeline(PipelineConfig(...), path=...)``)."""
