"""``RetrievalRetriever`` over the multi-stage ``retrieval.Retriever``: hybrid fusion with
per-stage scores, rerank stages, per-call ``k`` / ``filter``, the three text sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document

from adapters.langchain import RetrievalRetriever
from indexes import ExactIndex
from retrieval import Hit, IndexStage, RerankStage, Retriever
from retrieval.errors import ConfigError
from tests.adapters.langchain.corpus import DOCS, dense_store, sparse_store
from tests.adapters.langchain.models import splade


class ShortestFirst:
    """A stand-in ``retrieval.Reranker``: prefers short documents (score = -len(text))."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> Any:
        return [[-float(len(self.texts[h.id])) for h in hits] for hits in candidates]


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
def test_hybrid_fusion_keeps_every_stage_score(minilm: Any) -> None:
    dense, sparse = dense_store(minilm), sparse_store(splade())
    pipeline = Retriever(
        [
            IndexStage("dense", dense.embeddings, dense.index, "dense", depth=6),
            IndexStage("sparse", sparse._encoder, sparse.index, "sparse", depth=6),
        ],
        fusion="rrf",
    )
    retriever = RetrievalRetriever(retriever=pipeline, documents=dense, k=3)
    docs = retriever.invoke("shock wave in front of a blunt body at hypersonic speed")
    assert len(docs) == 3
    assert docs[0].id == "aero-1"
    top = docs[0].metadata
    assert set(top["scores"]) == {"dense", "sparse", "rrf"}
    assert top["score"] == top["scores"]["rrf"]
    assert top["topic"] == "aero"  # the stored metadata is kept beside the scores
    assert all(isinstance(v, float) for v in top["scores"].values())


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
def test_k_and_filter_per_call_and_rerank_stage(minilm: Any) -> None:
    store = dense_store(minilm)
    texts = {d.id: d.page_content for d in DOCS if d.id}
    pipeline = Retriever(
        IndexStage("dense", store.embeddings, store.index, "dense", depth=6),
        rerank=RerankStage("short", ShortestFirst(texts), top_n=4),
    )
    retriever = RetrievalRetriever(retriever=pipeline, documents=store, filter={"topic": "aero"})
    docs = retriever.invoke("flow", k=4)
    lengths = [len(d.page_content) for d in docs]
    assert lengths == sorted(lengths)
    assert {d.metadata["topic"] for d in docs} == {"aero"}
    assert set(docs[0].metadata["scores"]) == {"dense", "short"}
    # a per-call filter narrows the constructor's (AND), it does not replace it
    assert [d.id for d in retriever.invoke("flow", filter={"lang": "de"})] == ["aero-4"]
    assert retriever.invoke("flow", filter={"topic": "food"}) == []
    assert len(retriever.invoke("flow", k=1)) == 1


def _tiny_index(with_text: bool) -> ExactIndex:
    rng = np.random.default_rng(0)
    index = ExactIndex.create(dim=4)
    metadata = [{"n": i, **({"text": f"doc {i}"} if with_text else {})} for i in range(3)]
    index.add(["a", "b", "c"], rng.normal(size=(3, 4)), metadata)
    return index


class FixedQuery:
    """A ``retrieval.QueryEncoder`` that always returns one vector."""

    def encode_queries(self, queries: Sequence[str]) -> dict[str, Any]:
        return {"dense": np.ones((len(queries), 4), dtype=np.float32)}


def test_text_from_metadata_or_mapping() -> None:
    pipeline = Retriever(IndexStage("dense", FixedQuery(), _tiny_index(True), depth=3))
    docs = RetrievalRetriever(retriever=pipeline, k=3).invoke("q")
    assert sorted(d.page_content for d in docs) == ["doc 0", "doc 1", "doc 2"]
    assert "text" not in docs[0].metadata
    assert docs[0].metadata["n"] in (0, 1, 2)
    mapping = {"a": "alpha", "b": Document("beta", metadata={"own": True})}
    mapped = RetrievalRetriever(retriever=pipeline, documents=mapping, k=3).invoke("q")
    assert sorted(d.page_content for d in mapped) == ["alpha", "beta"]  # "c" has no text
    assert next(d for d in mapped if d.id == "b").metadata["own"] is True


def test_missing_text_and_bad_options_explain() -> None:
    pipeline = Retriever(IndexStage("dense", FixedQuery(), _tiny_index(False), depth=3))
    with pytest.raises(ConfigError, match=r"metadata\['text'\]"):
        RetrievalRetriever(retriever=pipeline).invoke("q")
    with pytest.raises(ConfigError, match="unknown options"):
        RetrievalRetriever(retriever=pipeline).invoke("q", fetch_k=3)
    with pytest.raises(ValueError, match="retrieval.Retriever"):
        RetrievalRetriever(retriever=object())
    with pytest.raises(ValueError, match=r"Unknown filter operator '\$like'"):  # pydantic wraps
        RetrievalRetriever(retriever=pipeline, filter={"n": {"$like": 1}})
    with pytest.raises(ValueError, match="documents must be"):
        RetrievalRetriever(retriever=pipeline, documents=[1, 2])


async def test_ainvoke_matches_invoke() -> None:
    pipeline = Retriever(IndexStage("dense", FixedQuery(), _tiny_index(True), depth=3))
    retriever = RetrievalRetriever(retriever=pipeline, k=2)
    assert await retriever.ainvoke("q") == retriever.invoke("q")
    assert len(await retriever.ainvoke("q", k=1)) == 1
    assert await retriever.ainvoke("q", filter={"n": 2}) == retriever.invoke("q", filter={"n": 2})


def test_from_index_searches_with_the_default_hybrid(st_legacy_mean: Any, tmp_path: Any) -> None:
    """``from_index`` over a ``retrieval index`` folder: the same hybrid ``retrieval search``
    runs (dense candidates rescored by MaxSim, fused), chunk text as page_content."""
    from adapters.collection import Collection, index_sources
    from tests.adapters.collection.helpers import write_corpus

    corpus = write_corpus(tmp_path / "docs")
    index_sources([corpus], tmp_path / "ix", model=str(st_legacy_mean), progress=False)
    retriever = RetrievalRetriever.from_index(tmp_path / "ix", device="cpu", k=2)
    docs = retriever.invoke("a cat on a mat")
    expected = Collection.open(tmp_path / "ix", device="cpu").search("a cat on a mat", k=2)
    assert [d.id for d in docs] == [h.id for h in expected]
    assert [d.page_content for d in docs] == [h.metadata["text"] for h in expected]
    assert set(docs[0].metadata["scores"]) == {"dense", "maxsim", "zscore"}
    assert docs[0].metadata["score"] == docs[0].metadata["scores"]["zscore"]
