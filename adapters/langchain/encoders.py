"""Text encoders: what turns texts into the input an index takes (dense rows, sparse vectors).

``RetrievalVectorStore`` speaks LangChain (texts in, ``Document`` out) while indexes speak
embeddings; a ``TextEncoder`` sits between them and also knows which index to make when the
store was given none. Dense stores wrap any LangChain ``Embeddings``; sparse stores wrap a
SPLADE / BGE-M3 ``encoders.LLM``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

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

    def encode_documents(self, texts: Sequence[str]) -> SparseEmbeddings:
        outputs = self.llm.embed_sparse(
            list(texts), top_k=self.top_k, truncate_prompt_tokens=-1, use_tqdm=False
        )
        items = [(o.outputs.indices, o.outputs.values) for o in outputs]
        return SparseEmbeddings.from_items(items, self.vocab_size)

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

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One ``(d_tokens_i, dim)`` float32 array per text."""
        vectors = self.llm.encode_documents(list(texts), use_tqdm=False)
        return [v.float().cpu().numpy() for v in vectors]

    def encode_queries(self, queries: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """``{"multivector": [(q_tokens_i, dim) arrays]}``: the ``retrieval.QueryEncoder``
        protocol."""
        vectors = self.llm.encode_queries(list(queries), use_tqdm=False)
        return {"multivector": [v.float().cpu().numpy() for v in vectors]}

    def encode_query(self, text: str) -> np.ndarray:
        """``(q_tokens, dim)`` float32."""
        return self.encode_queries([text])["multivector"][0]

    def new_index(self, batch: list[np.ndarray], path: PathLike | None) -> Index:
        import late_interaction

        plaid = getattr(late_interaction, "PlaidIndex", None)
        if plaid is None:  # pragma: no cover - only before the PLAID index is installed
            msg = "This version of late_interaction has no PlaidIndex; pass index= instead."
            raise ConfigError(msg)
        index: Index = plaid.create(path, dim=int(batch[0].shape[1]), **self.index_config)
        return index


def _rows(vectors: Any, expected: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or len(array) != expected:
        msg = (
            f"The embeddings returned {np.shape(array)} for {expected} texts; expected one "
            "vector per text, all of one length."
        )
        raise ConfigError(msg)
    return array
