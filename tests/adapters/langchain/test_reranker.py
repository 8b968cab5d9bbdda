"""``RetrievalReranker``: cross-encoder scores (tiny random checkpoint, checked against
sentence-transformers' CrossEncoder), MaxSim over MiniLM token embeddings (checked against
the plain-loop reference), the kept ``relevance_score``, ``top_n``, and end-to-end chains
through LangChain's ``ContextualCompressionRetriever``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document

from adapters.langchain import RetrievalReranker, RetrievalRetriever
from encoders import LLM
from late_interaction import maxsim_reference
from retrieval import IndexStage, RerankStage, Retriever
from tests.adapters.langchain.corpus import DOCS, dense_store
from tests.tiny_models import make_family

QUERY = "shock wave ahead of a blunt body"


@pytest.fixture(scope="module")
def cross_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_family(tmp_path_factory.mktemp("ce"), "bert", "seq", labels=1, seed=11)


def _docs() -> list[Document]:
    return [Document(d.page_content, metadata=dict(d.metadata), id=d.id) for d in DOCS]


def test_cross_encoder_scores_kept_sorted_and_copied(cross_encoder_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    reranker = RetrievalReranker(model=LLM(str(cross_encoder_path), device="cpu"), top_n=4)
    assert reranker.mode == "cross_encoder"
    docs = _docs()
    before = [d.model_copy(deep=True) for d in docs]
    ranked = reranker.compress_documents(docs, QUERY)
    assert docs == before  # the caller's documents are untouched
    reference = CrossEncoder(str(cross_encoder_path), device="cpu")
    want = reference.predict([(QUERY, d.page_content) for d in docs])  # sigmoid, as LLM.score
    order = np.argsort(-want, kind="stable")[:4]
    assert [d.id for d in ranked] == [docs[i].id for i in order]
    got = [d.metadata["relevance_score"] for d in ranked]
    np.testing.assert_allclose(got, want[order], atol=1e-5)
    for doc in ranked:  # the original metadata and id survive beside the score
        original = next(d for d in docs if d.id == doc.id)
        assert {k: v for k, v in doc.metadata.items() if k != "relevance_score"} == (
            original.metadata
        )


def test_top_n_none_keeps_all_and_empty_input(cross_encoder_path: Path) -> None:
    llm = LLM(str(cross_encoder_path), device="cpu")
    everything = RetrievalReranker(model=llm, top_n=None).compress_documents(_docs(), QUERY)
    assert len(everything) == len(DOCS)
    scores = [d.metadata["relevance_score"] for d in everything]
    assert scores == sorted(scores, reverse=True)
    assert RetrievalReranker(model=llm).compress_documents([], QUERY) == []


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
def test_maxsim_over_minilm_token_embeddings(minilm: Any) -> None:
    reranker = RetrievalReranker(model=minilm, top_n=3)
    assert reranker.mode == "maxsim"  # an embedding model: late interaction over its tokens
    docs = _docs()
    ranked = reranker.compress_documents(docs, QUERY)
    assert ranked[0].id == "aero-1"
    (query_tokens,) = minilm.encode_queries([QUERY], use_tqdm=False)
    doc_tokens = minilm.encode_documents([d.page_content for d in docs], use_tqdm=False)
    want = maxsim_reference(query_tokens, doc_tokens).numpy()
    order = np.argsort(-want, kind="stable")[:3]
    assert [d.id for d in ranked] == [docs[i].id for i in order]
    np.testing.assert_allclose(
        [d.metadata["relevance_score"] for d in ranked], want[order], rtol=1e-5
    )


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
def test_bad_modes_explain(minilm: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a cross-encoder"):
        RetrievalReranker(model=minilm, mode="cross_encoder")
    with pytest.raises(ValueError, match="'auto', 'cross_encoder' or 'maxsim'"):
        RetrievalReranker(model=minilm, mode="bm25")
    with pytest.raises(ValueError, match=r"encoders\.LLM"):
        RetrievalReranker(model="cross-encoder/ms-marco-MiniLM-L6-v2")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RetrievalReranker(model=minilm, top_n=0)


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
@pytest.mark.slow  # two rerankers through the whole chain
async def test_chain_retriever_then_reranker(minilm: Any, cross_encoder_path: Path) -> None:
    from langchain_classic.retrievers import ContextualCompressionRetriever

    store = dense_store(minilm)
    stage = IndexStage("dense", store.embeddings, store.index, "dense", depth=10)
    first = RetrievalRetriever(retriever=Retriever([stage]), documents=store, k=5)
    for model, mode in ((minilm, "maxsim"), (LLM(str(cross_encoder_path), device="cpu"), None)):
        reranker = RetrievalReranker(model=model, top_n=2)
        chain = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=first)
        docs = chain.invoke(QUERY)
        assert len(docs) == 2
        scores = [d.metadata["relevance_score"] for d in docs]
        assert scores == sorted(scores, reverse=True)
        assert all("dense" in d.metadata["scores"] for d in docs)  # first-stage scores kept
        assert {d.id for d in docs} <= {d.id for d in first.invoke(QUERY)}
        if mode == "maxsim":
            assert docs[0].id == "aero-1"
        # k and filter pass through the chain to the base retriever
        narrowed = await chain.ainvoke(QUERY, k=3, filter={"topic": "food"})
        assert {d.metadata["topic"] for d in narrowed} == {"food"}
        assert len(narrowed) == 2


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
def test_compressor_agrees_with_a_rerank_stage(minilm: Any, cross_encoder_path: Path) -> None:
    """Reranking after the Retriever (LangChain compressor) or inside it (a RerankStage with
    the pipeline's cross-encoder reranker) gives the same order and scores."""
    from adapters.collection import CrossEncoderReranker

    store = dense_store(minilm)
    cross_encoder = LLM(str(cross_encoder_path), device="cpu")
    texts = {d.id: d.page_content for d in DOCS if d.id}
    first = IndexStage("dense", store.embeddings, store.index, "dense", depth=6)
    inside = Retriever(first, rerank=RerankStage("ce", CrossEncoderReranker(cross_encoder, texts)))
    staged = RetrievalRetriever(retriever=inside, documents=store, k=3).invoke(QUERY)
    candidates = RetrievalRetriever(retriever=Retriever(first), documents=store, k=6).invoke(QUERY)
    compressed = RetrievalReranker(model=cross_encoder, top_n=3).compress_documents(
        candidates, QUERY
    )
    assert [d.id for d in staged] == [d.id for d in compressed]
    np.testing.assert_allclose(
        [d.metadata["scores"]["ce"] for d in staged],
        [d.metadata["relevance_score"] for d in compressed],
        rtol=1e-5,
    )
