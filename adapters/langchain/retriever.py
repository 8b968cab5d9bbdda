"""``RetrievalRetriever``: the toolkit's multi-stage ``retrieval.Retriever`` as a LangChain
``BaseRetriever`` (first stages, fusion, rerank stages; ``k`` and ``filter`` per call)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, model_validator

from retrieval.errors import ConfigError
from retrieval.filters import Filter, compile_filter
from retrieval.types import Hit

logger = logging.getLogger(__name__)


class RetrievalRetriever(BaseRetriever):
    """LangChain retriever over a ``retrieval.Retriever`` (or anything with its
    ``search(query, k, filter) -> list[Hit]``).

    Indexes return ids; the documents' text comes from ``documents``: a vector store (any
    LangChain ``VectorStore`` with ``get_by_ids``, e.g. the ``RetrievalVectorStore`` the index
    was filled through), a mapping ``id -> text or Document``, or ``None`` to read it from each
    hit's ``metadata[text_key]``. Each returned document's metadata gains ``score`` (the final
    score) and ``scores`` (every stage's score by stage name, as ``RankedHit.scores``).

    ``invoke(query, k=2, filter={"lang": "en"})`` overrides ``k`` and narrows ``filter`` (it is
    AND-ed with the constructor's) for one call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    """A ``retrieval.Retriever`` (or any object with ``search(query, k=, filter=)``)."""
    documents: Any = None
    """Where ``page_content`` comes from (see the class docstring)."""
    k: int = Field(default=4, ge=1)
    """Documents returned per query unless ``invoke(..., k=)`` says otherwise."""
    filter: dict[str, Any] | None = None
    """A metadata filter applied to every call (the toolkit's filter language)."""
    text_key: str = "text"
    """The metadata key holding the text when ``documents`` is ``None``."""

    @model_validator(mode="after")
    def _check(self) -> RetrievalRetriever:
        if not callable(getattr(self.retriever, "search", None)):
            msg = (
                f"retriever must be a retrieval.Retriever (search(query, k, filter)); got "
                f"{type(self.retriever).__name__}."
            )
            raise ConfigError(msg)
        docs = self.documents
        if not (
            docs is None or isinstance(docs, Mapping) or callable(getattr(docs, "get_by_ids", None))
        ):
            msg = (
                "documents must be a VectorStore with get_by_ids, a mapping id -> text, or None "
                f"(text in metadata[{self.text_key!r}]); got {type(docs).__name__}."
            )
            raise ConfigError(msg)
        compile_filter(self.filter)  # a bad filter fails at construction, not at first use
        return self

    @classmethod
    def from_index(
        cls, path: str | os.PathLike[str], *, device: str = "auto", **kwargs: Any
    ) -> RetrievalRetriever:
        """Over a collection folder (``retrieval index``, ``RetrievalVectorStore``, ...),
        searched as ``retrieval search`` searches it (several components: the default hybrid
        of ``retrieval.hybrid``); each document's text is the chunk text the collection
        stores. ``kwargs``: ``k``, ``filter``."""
        from adapters.collection import Collection

        return cls(retriever=Collection.open(path, device=device).retriever, **kwargs)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        return self._search(query, k, filter, kwargs)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: Filter | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        # BaseRetriever's default async path forwards no keyword arguments: k and filter
        # would fail there, so the search runs in an executor from here.
        return await run_in_executor(None, self._search, query, k, filter, kwargs)

    def _search(
        self, query: str, k: int | None, filter: Filter | None, kwargs: Mapping[str, Any]
    ) -> list[Document]:
        if kwargs:
            msg = (
                f"RetrievalRetriever got unknown options {sorted(kwargs)}; it takes k= and filter=."
            )
            raise ConfigError(msg)
        limit = self.k if k is None else k
        hits = self.retriever.search(query, k=limit, filter=self._filter(filter))
        return self._to_documents(hits)

    def _filter(self, extra: Filter | None) -> Filter | None:
        if not extra:
            return self.filter
        if not self.filter:
            return extra
        return {"$and": [self.filter, dict(extra)]}

    def _to_documents(self, hits: Sequence[Hit]) -> list[Document]:
        texts = self._texts(hits)
        out = []
        for hit in hits:
            found = texts.get(hit.id)
            if found is None:
                logger.warning("No text for hit %r; it is left out of the results.", hit.id)
                continue
            text, metadata = found
            metadata["score"] = float(hit.score)
            metadata["scores"] = {k: float(v) for k, v in getattr(hit, "scores", {}).items()}
            out.append(Document(page_content=text, metadata=metadata, id=hit.id))
        return out

    def _texts(self, hits: Sequence[Hit]) -> dict[str, tuple[str, dict[str, Any]]]:
        """id -> (text, metadata) for the hits that have a text."""
        source = self.documents
        if source is None:
            found = {}
            for hit in hits:
                metadata = dict(hit.metadata)
                text = metadata.pop(self.text_key, None)
                if not isinstance(text, str):
                    msg = (
                        f"Hit {hit.id!r} has no text in metadata[{self.text_key!r}]. Store the "
                        "text there when adding, or pass documents= (a vector store or a mapping)."
                    )
                    raise ConfigError(msg)
                found[hit.id] = (text, metadata)
            return found
        if isinstance(source, Mapping):
            pairs = [(h, source.get(h.id)) for h in hits]
            return {h.id: _entry(value, h) for h, value in pairs if value is not None}
        docs = source.get_by_ids([h.id for h in hits])
        return {d.id: (d.page_content, dict(d.metadata)) for d in docs if d.id is not None}


def _entry(value: Any, hit: Hit) -> tuple[str, dict[str, Any]]:
    if isinstance(value, Document):
        return value.page_content, dict(value.metadata)
    if isinstance(value, str):
        return value, dict(hit.metadata)
    msg = f"documents[{hit.id!r}] must be a string or a Document; got {type(value).__name__}."
    raise ConfigError(msg)
