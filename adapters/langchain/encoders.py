"""Text encoders: what turns a store's texts into the vectors its collection keeps.

``RetrievalVectorStore`` speaks LangChain (texts in, ``Document`` out) while its collection
speaks embeddings; a ``TextEncoder`` says how. Sparse and multi-vector stores wrap an
``encoders.LLM`` through the collection's own ``Encoder`` (so a store and ``retrieval
search`` encode alike); dense stores wrap LangChain ``Embeddings`` - the toolkit's
``RetrievalEmbeddings`` likewise become the collection's ``Encoder``, any other
``Embeddings`` are called as they are (``ExternalEncoder``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

from adapters.collection.encoders import Encoded, Encoder, configured_prompts
from encoders import LLM
from retrieval.errors import ConfigError
from retrieval.protocols import Index
from retrieval.types import SparseEmbeddings

PathLike = str | os.PathLike[str]


@runtime_checkable
class TextEncoder(Protocol):
    """Encodes texts for one kind of index."""

    def encode_documents(self, texts: Sequence[str]) -> Any:
        """A batch ``index.add`` takes, one item per text."""

    def encode_query(self, text: str) -> Any:
        """One query ``index.search`` takes."""

    def new_index(self, batch: Any, path: PathLike | None) -> Index:
        """An empty index sized for ``batch`` (the first one added), at ``path``."""


class DenseTextEncoder:
    """Dense float32 rows from LangChain ``Embeddings``; new indexes are ``FaissIndex``."""

    def __init__(self, embedding: Embeddings, index_config: Mapping[str, Any] | None = None):
        """``index_config``: ``FaissIndex.create`` keywords for a new index (default
        ``kind="flat", metric="cosine"``: exact search, the right default for LangChain-sized
        collections; ask for ``kind="hnsw"`` and friends for large ones)."""
        self.embedding = embedding
        self.index_config = {"kind": "flat", "metric": "cosine", **(index_config or {})}

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` float32."""
        return _rows(self.embedding.embed_documents(list(texts)), len(texts))

    def encode_query(self, text: str) -> np.ndarray:
        """``(dim,)`` float32."""
        return _rows([self.embedding.embed_query(text)], 1)[0]

    def new_index(self, batch: np.ndarray, path: PathLike | None) -> Index:
        from indexes import FaissIndex

        return FaissIndex.create(path, dim=int(batch.shape[1]), **self.index_config)


class SparseTextEncoder:
    """Sparse vectors from a SPLADE or BGE-M3 ``encoders.LLM``; new indexes are ``SparseIndex``."""

    def __init__(self, llm: LLM, *, top_k: int | None = None):
        """``top_k``: keep only the ``top_k`` largest weights per text (None keeps all).
        Texts longer than the model accepts are cut to its maximum length."""
        self.llm = llm
        self.top_k = top_k
        self.vocab_size = llm.vocab_size
        self.encoder = Encoder(llm, ("sparse",), sparse_top_k=top_k)

    def encode_documents(self, texts: Sequence[str]) -> SparseEmbeddings:
        pairs = self.encoder.documents(list(texts)).sparse or []
        return SparseEmbeddings.from_items(pairs, self.vocab_size)

    def encode_queries(self, queries: Sequence[str]) -> dict[str, SparseEmbeddings]:
        """``{"sparse": SparseEmbeddings}``: the ``retrieval.QueryEncoder`` protocol."""
        return {"sparse": self.encode_documents(queries)}

    def encode_query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """One ``(indices, values)`` pair."""
        return self.encode_documents([text])[0]

    def new_index(self, batch: SparseEmbeddings, path: PathLike | None) -> Index:
        from indexes import SparseIndex

        return SparseIndex.create(path, vocab_size=self.vocab_size)


class MultiVectorTextEncoder:
    """Token vectors (late interaction) from a ColBERT model or any token-embedding
    ``encoders.LLM``; new indexes are ``late_interaction.PlaidIndex``."""

    def __init__(self, llm: LLM, index_config: Mapping[str, Any] | None = None):
        """``index_config``: ``PlaidIndex.create`` keywords for a new index (e.g. ``nbits``)."""
        self.llm = llm
        self.index_config = dict(index_config or {})
        query, document = configured_prompts(llm)
        self.encoder = Encoder(llm, ("multivector",), query_prompt=query, document_prompt=document)

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One ``(d_tokens_i, dim)`` float32 array per text."""
        return list(self.encoder.documents(list(texts)).tokens or [])

    def encode_queries(self, queries: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """``{"multivector": [(q_tokens_i, dim) arrays]}``: the ``retrieval.QueryEncoder``
        protocol."""
        return {"multivector": list(self.encoder.queries(list(queries)).tokens or [])}

    def encode_query(self, text: str) -> np.ndarray:
        """``(q_tokens, dim)`` float32."""
        return self.encode_queries([text])["multivector"][0]

    def new_index(self, batch: list[np.ndarray], path: PathLike | None) -> Index:
        from late_interaction import PlaidIndex

        index: Index = PlaidIndex.create(path, dim=int(batch[0].shape[1]), **self.index_config)
        return index


class ExternalEncoder:
    """A ``TextEncoder`` the toolkit cannot rebuild (LangChain ``Embeddings`` of another
    library, a custom encoder) as a collection encoder: called as it is, recorded by class
    name so a later ``load`` can tell a different one."""

    model = ""
    query_prompt = document_prompt = ""
    images = False

    def __init__(self, text_encoder: Any, representation: str) -> None:
        self.text_encoder = text_encoder
        self.kinds = (representation,)
        self.vocab_size = int(getattr(text_encoder, "vocab_size", 0) or 0)
        inner = getattr(text_encoder, "embedding", text_encoder)
        self.name = type(inner).__name__

    def documents(self, texts: Sequence[str]) -> Encoded:
        return self._encoded(self.text_encoder.encode_documents(list(texts)))

    def queries(self, texts: Sequence[str]) -> Encoded:
        encode = getattr(self.text_encoder, "encode_queries", None)
        if self.kinds == ("dense",) or encode is None:
            rows = [self.text_encoder.encode_query(t) for t in texts]
            batch = np.stack(rows) if self.kinds == ("dense",) and rows else rows
            return self._encoded(batch)
        return self._encoded(encode(list(texts))[self.kinds[0]])

    def encode_queries(self, queries: Sequence[str]) -> Mapping[str, Any]:
        return self.queries(queries).by_representation()

    def encode_documents(self, texts: Sequence[str]) -> Mapping[str, Any]:
        return self.documents(texts).by_representation()

    def _encoded(self, batch: Any) -> Encoded:
        if self.kinds == ("dense",):
            return Encoded(dense=np.asarray(batch, np.float32))
        if self.kinds == ("sparse",):
            return Encoded(sparse=[(np.asarray(i), np.asarray(v)) for i, v in batch])
        return Encoded(tokens=[np.asarray(t, np.float32) for t in batch])


def collection_encoder(text_encoder: Any) -> tuple[Any, dict[str, Any], str, str]:
    """``(encoder, manifest spec, representation, model name)`` for a store's encoder."""
    from adapters.collection.models import encoder_spec

    if isinstance(text_encoder, SparseTextEncoder | MultiVectorTextEncoder):
        inner = text_encoder.encoder
        return inner, encoder_spec(inner), inner.kinds[0], inner.model
    embedding = getattr(text_encoder, "embedding", None)
    if isinstance(text_encoder, DenseTextEncoder) and hasattr(embedding, "collection_encoder"):
        inner = embedding.collection_encoder()  # type: ignore[union-attr]
        return inner, encoder_spec(inner), "dense", inner.model
    representation = "dense" if isinstance(text_encoder, DenseTextEncoder) else "multivector"
    if isinstance(getattr(text_encoder, "vocab_size", None), int):
        representation = "sparse"
    outer = ExternalEncoder(text_encoder, representation)
    spec = {"representations": [representation], "external": outer.name}
    return outer, spec, representation, ""


def _rows(vectors: Any, expected: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or len(array) != expected:
        msg = (
            f"The embeddings returned {np.shape(array)} for {expected} texts; expected one "
            "vector per text, all of one length."
        )
        raise ConfigError(msg)
    return array
