"""LangChain's own ``VectorStoreIntegrationTests``, run unmodified, once per index kind.

The suite hands every store ``DeterministicFakeEmbedding(size=6)`` (LangChain's choice) and
compares whole ``Document`` objects, so these check the adapter's contract (ids, upsert,
deletes, ``get_by_ids``, no extra metadata, no mutation of the caller's documents) over each
index; retrieval quality on a real model is tested in ``test_vectorstore.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests

import late_interaction
from adapters.collection import MaxSimIndex
from adapters.langchain import MultiVectorTextEncoder, RetrievalVectorStore, SparseTextEncoder
from indexes import ExactIndex, FaissIndex, SparseIndex
from tests.adapters.langchain.models import minilm, splade

PLAID = getattr(late_interaction, "PlaidIndex", None)


def _cleared(store: RetrievalVectorStore) -> Iterator[RetrievalVectorStore]:
    try:
        yield store
    finally:
        store.delete()  # ids=None: everything


class TestFaissFlatStore(VectorStoreIntegrationTests):
    """The default: no index given, a FAISS flat cosine index is made on the first add."""

    @pytest.fixture
    def vectorstore(self) -> Iterator[RetrievalVectorStore]:
        yield from _cleared(RetrievalVectorStore(embedding=self.get_embeddings()))


class TestFaissHnswStore(VectorStoreIntegrationTests):
    """An approximate FAISS HNSW index given by the caller, kept on disk."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[RetrievalVectorStore]:
        index = FaissIndex.create(tmp_path / "index", dim=6, kind="hnsw", metric="cosine")
        store = RetrievalVectorStore(self.get_embeddings(), index, path=tmp_path / "store")
        yield from _cleared(store)


class TestExactStore(VectorStoreIntegrationTests):
    """The exact numpy index with the L2 metric."""

    @pytest.fixture
    def vectorstore(self) -> Iterator[RetrievalVectorStore]:
        index = ExactIndex.create(dim=6, metric="l2")
        yield from _cleared(RetrievalVectorStore(self.get_embeddings(), index))


@pytest.mark.realmodel
class TestSparseStore(VectorStoreIntegrationTests):
    """The sparse inverted index fed by the real tiny SPLADE (no dense embeddings at all)."""

    @pytest.fixture
    def vectorstore(self) -> Iterator[RetrievalVectorStore]:
        llm = splade()
        index = SparseIndex.create(vocab_size=llm.vocab_size)
        yield from _cleared(RetrievalVectorStore(index=index, encoder=SparseTextEncoder(llm)))


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
@pytest.mark.skipif(PLAID is None, reason="late_interaction.PlaidIndex is not in this version")
class TestPlaidStore(VectorStoreIntegrationTests):
    """The PLAID token index fed by all-MiniLM-L6-v2 token vectors (late interaction); the
    store makes the index on the first add."""

    @pytest.fixture
    def vectorstore(self) -> Iterator[RetrievalVectorStore]:
        yield from _cleared(RetrievalVectorStore(encoder=MultiVectorTextEncoder(minilm())))


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
class TestMaxSimStore(VectorStoreIntegrationTests):
    """The exact multi-vector index (every token kept, MaxSim over all) on MiniLM tokens."""

    @pytest.fixture
    def vectorstore(self) -> Iterator[RetrievalVectorStore]:
        encoder = MultiVectorTextEncoder(minilm())
        yield from _cleared(
            RetrievalVectorStore(index=MaxSimIndex.create(dim=384), encoder=encoder)
        )
