"""A QdrantIndex behind the toolkit's LangChain vector store (``RetrievalVectorStore``)."""

from __future__ import annotations

from langchain_core.embeddings import DeterministicFakeEmbedding

from adapters.langchain import RetrievalVectorStore
from adapters.qdrant import QdrantIndex


def test_langchain_vector_store_over_qdrant() -> None:
    index = QdrantIndex.create(dim=16)
    store = RetrievalVectorStore(embedding=DeterministicFakeEmbedding(size=16), index=index)
    texts = ["wing flutter", "shock waves", "heat transfer", "boundary layer"]
    metas = [{"year": 1960 + i, "topic": t.split()[0]} for i, t in enumerate(texts)]
    ids = store.add_texts(texts, metas, ids=["a", "b", "c", "d"])
    assert ids == ["a", "b", "c", "d"]
    assert len(index) == 4  # the vectors and metadata live in Qdrant
    (doc,) = store.similarity_search("shock waves", k=1)
    assert doc.id == "b"
    assert doc.page_content == "shock waves"
    assert doc.metadata == {"year": 1961, "topic": "shock"}
    hits = store.similarity_search_with_score("shock waves", k=4, filter={"year": {"$gte": 1962}})
    assert {d.id for d, _ in hits} == {"c", "d"}
    store.delete(["c"])
    assert len(index) == 3
