"""``RetrievalVectorStore``: a LangChain ``VectorStore`` over a toolkit collection.

The store is a thin door onto ``adapters.collection.Collection``: the collection keeps each
document's text and metadata, the vector index(es), the encoder settings and the pipeline,
in memory or in a folder that ``retrieval search``, ``retrieval serve --index`` and
``retrieval eval --index`` open too - and ``RetrievalVectorStore.load`` opens a folder built
by ``retrieval index``. Filters run inside the indexes, in the toolkit's filter language
(``{"lang": "en"}``, ``{"year": {"$gte": 2000}}``, ``$in``, ``$and``, ``$or``).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from adapters.collection import Collection
from adapters.langchain.encoders import DenseTextEncoder, PathLike, TextEncoder
from adapters.langchain.opening import new_collection, open_collection
from adapters.langchain.relevance import ScoreFn, relevance_for, unit
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.protocols import Index


class RetrievalVectorStore(VectorStore):
    """LangChain vector store over a toolkit collection.

    ``embedding``: LangChain ``Embeddings`` (e.g. ``RetrievalEmbeddings``) for a dense store.
    ``index``: any index of the toolkit (FAISS, exact, sparse, PLAID, MaxSim), empty;
    ``None`` makes one on the first add, sized from the first batch (a ``FaissIndex`` with
    ``index_config``, default exact ``kind="flat"``, ``metric="cosine"``). ``encoder``: how
    texts become vectors for non-dense stores (``SparseTextEncoder``,
    ``MultiVectorTextEncoder``). ``path``: the collection folder (``save()`` commits it,
    ``load`` reopens it); ``None`` keeps it in memory.

    Searches run the collection's pipeline (one index: its own search; a collection built
    with several, e.g. by ``retrieval index --kind hybrid``: fusion and rerank stages).
    Scores are higher-is-better; ``similarity_search_with_relevance_scores`` maps them to
    [0, 1]: cosine / ip clipped, l2 ``1 - distance / 2``, MaxSim divided by the query's token
    count, other unbounded scores ``s / (1 + s)``; pass ``relevance_score_fn`` to choose.
    ``as_retriever()`` returns Documents with every stage's score (``metadata["scores"]``).
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
        collection: Collection | None = None,
    ) -> None:
        """``collection``: an open collection to wrap (what ``load`` passes)."""
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
        self._relevance_fn = relevance_score_fn
        self._collection = collection or new_collection(encoder, index, path)

    # -- LangChain API: writes ---------------------------------------------------------------
    @property
    def embeddings(self) -> Embeddings | None:
        return self._embedding

    @property
    def collection(self) -> Collection:
        """The collection behind the store."""
        return self._collection

    @property
    def index(self) -> Index | None:
        """The (first) index behind the store; ``None`` until the first add."""
        parts = self._collection.parts
        return parts[0].index if parts else None

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
            self._collection.add(new_ids[start:stop], texts[start:stop], metas[start:stop])
        return new_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Delete documents by id (unknown ids are ignored); ``ids=None`` deletes all."""
        _no_extra(kwargs, "delete")
        if isinstance(ids, str):
            msg = f"delete takes a list of ids; got the single string {ids!r}. Wrap it: [{ids!r}]."
            raise ConfigError(msg)
        targets = self._collection.state.ids() if ids is None else [str(i) for i in ids]
        if targets:
            self._collection.delete(targets)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents with these ids, in the order asked (unknown ids skipped)."""
        found = self._collection.documents(list(ids))
        return [_document(i, *found[i]) for i in ids if i in found]

    # -- LangChain API: search ---------------------------------------------------------------
    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents most similar to ``query``; ``filter=`` narrows the search."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """``(document, score)`` pairs, best first (higher scores are better)."""
        _no_extra(kwargs, "similarity_search")
        if self._empty():
            return []
        hits = self._collection.retriever.search(query, k=k, filter=filter)
        return self._documents([(h.id, float(h.score)) for h in hits])

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
        dense = next((p.index for p in self._collection.parts if p.name == "dense"), None)
        if not isinstance(self._encoder, DenseTextEncoder) and dense is None:
            msg = (
                "Search by vector needs a dense store; this one encodes queries with "
                f"{type(self._encoder).__name__}. Search with text instead."
            )
            raise ConfigError(msg)
        if dense is None or self._empty():
            return []
        hits = dense.search(np.asarray(embedding, dtype=np.float32), k=k, filter=filter)
        return self._documents([(h.id, float(h.score)) for h in hits])

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
        fetched = self.similarity_search_with_score(query, max(k, fetch_k), filter)
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
        pairs = self.similarity_search_with_score(query, k, filter)
        fn = self._relevance_fn or self._relevance(query)
        return [(doc, unit(fn(score))) for doc, score in pairs]

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        # the default async path maps scores without the query (MaxSim needs its length)
        return await run_in_executor(
            None, self._similarity_search_with_relevance_scores, query, k, **kwargs
        )

    def _select_relevance_score_fn(self) -> ScoreFn:
        fn = self._relevance_fn or relevance_for(self.index, None)
        return lambda score: unit(fn(score))

    def as_retriever(self, **kwargs: Any) -> Any:
        """A retriever running the collection's whole pipeline: Documents carry
        ``metadata["score"]`` and every stage's score (``metadata["scores"]``).
        ``search_kwargs`` takes ``k`` and ``filter``; ``search_type="mmr"`` or
        ``"similarity_score_threshold"`` give LangChain's own ``VectorStoreRetriever``."""
        if kwargs.get("search_type", "similarity") != "similarity":
            return super().as_retriever(**kwargs)
        from adapters.langchain.retriever import RetrievalRetriever

        options = dict(kwargs.get("search_kwargs") or {})
        unknown = sorted(set(options) - {"k", "filter"})
        if unknown:
            msg = f"as_retriever search_kwargs takes k and filter; got {unknown}."
            raise ConfigError(msg)
        return RetrievalRetriever(
            retriever=_Live(self),
            documents=self,
            k=options.get("k", 4),
            filter=options.get("filter"),
            tags=[*(kwargs.get("tags") or []), *self._get_retriever_tags()],
            metadata=kwargs.get("metadata"),
        )

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
        """Commit the collection to its folder (indexes, then documents, then manifest)."""
        if self._collection.path is None:
            msg = (
                "This RetrievalVectorStore lives in memory; create it with "
                "RetrievalVectorStore(embedding, path='my_store') to save it."
            )
            raise ConfigError(msg)
        self._collection.save()

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
        """Open a collection folder - saved by a store, or built by ``retrieval index`` or a
        ``Pipeline``. Without ``embedding`` / ``encoder`` the collection's own model is
        loaded; one that differs from the model it was built with is an error naming both.
        ``index`` replaces its (single) index. Checksums are verified unless ``verify=False``."""
        collection, embedding, encoder = open_collection(path, embedding, encoder, verify)
        if index is not None:
            if len(collection.parts) != 1:
                msg = "index= replaces the index of a one-index collection; this one has several."
                raise ConfigError(msg)
            collection.parts[0].index = index
        return cls(embedding, encoder=encoder, relevance_score_fn=relevance_score_fn,
                   collection=collection)  # fmt: skip

    # -- internals ---------------------------------------------------------------------------
    def _empty(self) -> bool:
        return self._collection.empty

    def _documents(self, scored: list[tuple[str, float]]) -> list[tuple[Document, float]]:
        found = self._collection.documents([i for i, _ in scored])
        # an id without a document was added or deleted concurrently: skip it
        return [(_document(i, *found[i]), s) for i, s in scored if i in found]

    def _relevance(self, query: str) -> ScoreFn:
        parts = self._collection.parts
        if len(parts) != 1 or self._collection.config.rerank:
            return lambda s: s  # fused / reranked scores: already comparable, clipped
        encoded = self._collection.encoder.encode_queries([query])[parts[0].representation]
        return relevance_for(parts[0].index, encoded[0] if parts[0].name == "tokens" else None)

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


class _Live:
    """The collection's current Retriever (rebuilt when its indexes are first created)."""

    def __init__(self, store: RetrievalVectorStore) -> None:
        self.store = store

    def search(self, query: str, k: int = 10, filter: Filter | None = None) -> list[Any]:
        if self.store._empty():
            return []
        return list(self.store.collection.retriever.search(query, k=k, filter=filter))


def _document(doc_id: str, text: str | None, meta: dict[str, Any]) -> Document:
    # a copy: callers may mutate what they get back without changing the store
    return Document(page_content=text or "", metadata=copy.deepcopy(meta), id=doc_id)


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
