"""``RetrievalVectorStore``: a LangChain ``VectorStore`` over any index of the toolkit.

The index (``retrieval.protocols.Index``: FAISS, exact, sparse, PLAID, ...) holds the vectors
and each document's metadata, so metadata filters run *inside* the search, in the toolkit's
filter language (``{"lang": "en"}``, ``{"year": {"$gte": 2000}}``, ``$in``, ``$and``,
``$or``). The store keeps ``id -> (page_content, metadata)`` beside it: indexes return ids,
and LangChain wants the documents back exactly as they were added.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from adapters.langchain import persistence
from adapters.langchain.encoders import DenseTextEncoder, PathLike, TextEncoder
from adapters.langchain.relevance import ScoreFn, relevance_for, unit
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.protocols import Index
from retrieval.storage import IndexFolder, Manifest

logger = logging.getLogger(__name__)


class RetrievalVectorStore(VectorStore):
    """LangChain vector store over a toolkit index.

    ``embedding``: LangChain ``Embeddings`` (e.g. ``RetrievalEmbeddings``) for a dense store.
    ``index``: any ``Index``, empty (the store keeps the documents' text, so it only answers for
    items added through it); ``None`` makes one on the first add, sized from the first batch
    (a ``FaissIndex`` with ``index_config``, default exact ``kind="flat"``, ``metric="cosine"``).
    ``encoder``: how texts become index input, for non-dense indexes (``SparseTextEncoder``,
    ``MultiVectorTextEncoder``).
    ``path``: a folder to ``save()`` into (``load`` reopens it); ``None`` keeps it in memory.

    Scores from ``similarity_search_with_score`` are the index's, higher is better (cosine
    similarity for the default index). ``similarity_search_with_relevance_scores`` maps them to
    [0, 1]: cosine / ip clipped, l2 ``1 - distance / 2``, MaxSim divided by the query's token
    count (a mean cosine), other unbounded scores (sparse dot product) ``s / (1 + s)``; pass
    ``relevance_score_fn`` to choose another mapping.
    """

    def __init__(
        self,
        embedding: Embeddings | None = None,
        index: Index | None = None,
        *,
        encoder: TextEncoder | None = None,
        path: PathLike | None = None,
        index_config: Mapping[str, Any] | None = None,
        relevance_score_fn: ScoreFn | None = None,
    ) -> None:
        if encoder is None:
            if embedding is None:
                msg = (
                    "RetrievalVectorStore needs embedding= (LangChain Embeddings, e.g. "
                    "RetrievalEmbeddings(...)) or encoder= (e.g. SparseTextEncoder(llm))."
                )
                raise ConfigError(msg)
            encoder = DenseTextEncoder(embedding, index_config)
        elif index_config is not None:
            msg = "index_config configures the default dense index; with encoder= pass index=."
            raise ConfigError(msg)
        if index is not None and not isinstance(index, Index):
            msg = f"index must follow retrieval.protocols.Index; got {type(index).__name__}."
            raise ConfigError(msg)
        if embedding is None and isinstance(encoder, DenseTextEncoder):
            embedding = encoder.embedding
        self._embedding = embedding
        self._encoder = encoder
        self._index = index
        self._docs: persistence.Documents = {}
        self._lock = threading.RLock()
        self._relevance_fn = relevance_score_fn
        self._folder: IndexFolder | None = None
        self._manifest: Manifest | None = None
        if path is not None:
            if index is not None and getattr(index, "path", None) is None:
                msg = (
                    "The store has a path but its index lives in memory; create the index with "
                    "a path too (e.g. FaissIndex.create('store/index', ...)) or leave index=None."
                )
                raise ConfigError(msg)
            self._folder = IndexFolder.create(path, "RetrievalVectorStore.load")
            self._manifest = persistence.commit(self._folder, {}, self._index_path(), None)

    # -- LangChain API: writes ---------------------------------------------------------------
    @property
    def embeddings(self) -> Embeddings | None:
        return self._embedding

    @property
    def index(self) -> Index | None:
        """The index behind the store (``None`` until the first add when none was given)."""
        return self._index

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and add texts (upsert: an existing id is replaced). Ids are generated for
        texts without one. ``batch_size`` bounds how many texts are encoded at once."""
        _no_extra(kwargs, "add_texts")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                msg = f"Every text must be a string; got {type(text).__name__} ({text!r})."
                raise ConfigError(msg)
        metas = _metadatas(metadatas, len(texts))
        new_ids = _ids(ids, len(texts))
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            msg = f"batch_size must be a positive integer; got {batch_size!r}."
            raise ConfigError(msg)
        step = batch_size or max(1, len(texts))
        for start in range(0, len(texts), step):
            stop = start + step
            self._add(new_ids[start:stop], texts[start:stop], metas[start:stop])
        return new_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Delete documents by id (unknown ids are ignored); ``ids=None`` deletes all."""
        _no_extra(kwargs, "delete")
        if isinstance(ids, str):
            msg = f"delete takes a list of ids; got the single string {ids!r}. Wrap it: [{ids!r}]."
            raise ConfigError(msg)
        with self._lock:
            targets = list(self._docs) if ids is None else [str(i) for i in ids]
            if self._index is not None and targets:
                self._index.delete(targets)
            for doc_id in targets:
                self._docs.pop(doc_id, None)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents with these ids, in the order asked (unknown ids skipped)."""
        found = [(i, self._docs.get(i)) for i in ids]
        return [_document(i, entry) for i, entry in found if entry is not None]

    # -- LangChain API: search ---------------------------------------------------------------
    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents most similar to ``query``; ``filter=`` narrows the search."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """``(document, index score)`` pairs, best first (higher scores are better)."""
        _no_extra(kwargs, "similarity_search")
        if self._index is None:
            return []
        return self._search(self._encoder.encode_query(query), k, filter)

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[Document]:
        """Search with a query vector (dense stores)."""
        pairs = self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [doc for doc, _ in pairs]

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """``(document, score)`` pairs for a query vector (dense stores)."""
        _no_extra(kwargs, "similarity_search_by_vector")
        if not isinstance(self._encoder, DenseTextEncoder):
            msg = (
                "Search by vector needs a dense store; this one encodes queries with "
                f"{type(self._encoder).__name__}. Search with text instead."
            )
            raise ConfigError(msg)
        if self._index is None:
            return []
        return self._search(np.asarray(embedding, dtype=np.float32), k, filter)

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """``k`` documents picked from the ``fetch_k`` best for relevance *and* diversity
        (``lambda_mult`` 1 = relevance only, 0 = diversity only)."""
        _no_extra(kwargs, "max_marginal_relevance_search")
        embedding = self._dense("max_marginal_relevance_search")
        if self._index is None:
            return []
        fetched = self._search(self._encoder.encode_query(query), max(k, fetch_k), filter)
        return self._mmr(embedding.embed_query(query), fetched, k, lambda_mult)

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR for a query vector (dense stores)."""
        fetched = self.similarity_search_with_score_by_vector(
            embedding, max(k, fetch_k), filter, **kwargs
        )
        return self._mmr(embedding, fetched, k, lambda_mult)

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        filter = kwargs.pop("filter", None)
        _no_extra(kwargs, "similarity_search_with_relevance_scores")
        if self._index is None:
            return []
        encoded = self._encoder.encode_query(query)
        fn = self._relevance_fn or relevance_for(self._index, encoded)
        return [(doc, unit(fn(s))) for doc, s in self._search(encoded, k, filter)]

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        # the default async path maps scores without the query (MaxSim needs its length)
        return await run_in_executor(
            None, self._similarity_search_with_relevance_scores, query, k, **kwargs
        )

    def _select_relevance_score_fn(self) -> ScoreFn:
        fn = self._relevance_fn or relevance_for(self._index, None)
        return lambda score: unit(fn(score))

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> RetrievalVectorStore:
        """A new store (``kwargs`` go to the constructor) holding ``texts``."""
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    # -- persistence -------------------------------------------------------------------------
    def save(self) -> None:
        """Commit the index and the documents to the store's folder."""
        if self._folder is None:
            msg = (
                "This RetrievalVectorStore lives in memory; create it with "
                "RetrievalVectorStore(embedding, path='my_store') to save it."
            )
            raise ConfigError(msg)
        with self._lock:
            if self._index is not None:
                self._index.save()
            self._manifest = persistence.commit(
                self._folder, self._docs, self._index_path(), self._manifest
            )

    @classmethod
    def load(
        cls,
        path: PathLike,
        embedding: Embeddings | None = None,
        *,
        encoder: TextEncoder | None = None,
        index: Index | None = None,
        verify: bool = True,
        relevance_score_fn: ScoreFn | None = None,
    ) -> RetrievalVectorStore:
        """Reopen a saved store. Give the same embedding / encoder it was built with; the
        index is opened from the folder unless ``index`` is given. Checksums are verified
        unless ``verify=False``."""
        folder = IndexFolder(path)
        manifest, documents, index_path = persistence.read(folder, verify=verify)
        if index is None and index_path is not None:
            index = persistence.open_index(index_path, verify=verify)
        store = cls(embedding, index, encoder=encoder, relevance_score_fn=relevance_score_fn)
        store._folder, store._manifest, store._docs = folder, manifest, documents
        if index is not None and len(index) != len(documents):
            logger.warning(
                "%s: the index holds %d items but the store %d documents (a save was "
                "interrupted?); items without a document are skipped in results.",
                folder.path,
                len(index),
                len(documents),
            )
        return store

    # -- internals ---------------------------------------------------------------------------
    def _add(self, ids: list[str], texts: list[str], metas: list[dict[str, Any]]) -> None:
        if not texts:
            return
        batch = self._encoder.encode_documents(texts)
        with self._lock:
            if self._index is None:
                where = None if self._folder is None else self._folder.path / "index"
                self._index = self._encoder.new_index(batch, where)
            # The index validates everything (ids, sizes, JSON metadata) before changing state,
            # so a bad batch leaves both the index and the documents as they were.
            self._index.add(ids, batch, [m or None for m in metas])
            for doc_id, text, meta in zip(ids, texts, metas, strict=True):
                self._docs[doc_id] = (text, meta)

    def _search(self, query: Any, k: int, filter: Filter | None) -> list[tuple[Document, float]]:
        if self._index is None:
            return []
        hits = self._index.search(query, k=k, filter=filter)
        docs = self._docs
        # an id the documents lack was added or deleted concurrently: skip it
        return [(_document(h.id, docs[h.id]), float(h.score)) for h in hits if h.id in docs]

    def _mmr(
        self,
        query: Sequence[float],
        fetched: list[tuple[Document, float]],
        k: int,
        lambda_mult: float,
    ) -> list[Document]:
        if not 0.0 <= lambda_mult <= 1.0:
            msg = f"lambda_mult must be between 0 and 1; got {lambda_mult!r}."
            raise ConfigError(msg)
        if not fetched:
            return []
        # Indexes return ids, not vectors: the candidates are re-embedded (fetch_k texts).
        vectors = self._dense("max_marginal_relevance_search").embed_documents(
            [d.page_content for d, _ in fetched]
        )
        picked = maximal_marginal_relevance(np.asarray(query), vectors, lambda_mult, k)
        return [fetched[i][0] for i in picked]

    def _dense(self, what: str) -> Embeddings:
        if self._embedding is None:
            msg = f"{what} needs dense embeddings: create the store with embedding=."
            raise ConfigError(msg)
        return self._embedding

    def _index_path(self) -> Path | None:
        path = getattr(self._index, "path", None)
        return None if path is None else Path(path)


def _document(doc_id: str, entry: tuple[str, dict[str, Any]]) -> Document:
    text, meta = entry
    # a copy: callers may mutate what they get back without changing the store
    return Document(page_content=text, metadata=copy.deepcopy(meta), id=doc_id)


def _metadatas(metadatas: list[dict[str, Any]] | None, n: int) -> list[dict[str, Any]]:
    if metadatas is None:
        return [{} for _ in range(n)]
    if len(metadatas) != n:
        msg = f"Got {len(metadatas)} metadata dicts for {n} texts; give one per text."
        raise ConfigError(msg)
    for meta in metadatas:
        if meta is not None and not isinstance(meta, Mapping):
            msg = f"Each metadata entry must be a dict (or None); got {type(meta).__name__}."
            raise ConfigError(msg)
    return [copy.deepcopy(dict(m)) if m else {} for m in metadatas]


def _ids(ids: Sequence[str | None] | None, n: int) -> list[str]:
    if ids is None:
        return [uuid.uuid4().hex for _ in range(n)]
    if isinstance(ids, str):
        msg = f"ids must be a list; got the single string {ids!r}."
        raise ConfigError(msg)
    if len(ids) != n:
        msg = f"Got {len(ids)} ids for {n} texts; give one per text (or none)."
        raise ConfigError(msg)
    # a document without an id (None) gets a fresh one; other values are checked by the index
    return [uuid.uuid4().hex if i is None else i for i in ids]


def _no_extra(kwargs: Mapping[str, Any], method: str) -> None:
    """Refuse options this store does not know instead of silently ignoring them."""
    if kwargs:
        msg = (
            f"RetrievalVectorStore.{method} got unknown options {sorted(kwargs)}. Metadata "
            "filters go in filter= (e.g. filter={'lang': 'en'})."
        )
        raise ConfigError(msg)
