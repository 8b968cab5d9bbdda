"""``RetrievalVectorStore`` beyond the standard suite: filters, relevance scores, MMR,
persistence, LangChain's indexing API, async paths and bad input."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.indexing import InMemoryRecordManager, index

import late_interaction
from adapters.langchain import MultiVectorTextEncoder, RetrievalEmbeddings, RetrievalVectorStore
from indexes import ExactIndex, FaissIndex
from retrieval.errors import ConfigError, FilterError, IndexCorruptError

FAKE = DeterministicFakeEmbedding(size=8)
PLAID = getattr(late_interaction, "PlaidIndex", None)
PAPERS = [
    Document("Shock waves form ahead of a blunt body in hypersonic flow.", id="p1",
             metadata={"lang": "en", "year": 1998, "topic": "aero"}),
    Document("Boundary layer transition on a flat plate at low speed.", id="p2",
             metadata={"lang": "en", "year": 2005, "topic": "aero"}),
    Document("Die Stoßwelle vor einem stumpfen Körper im Hyperschall.", id="p3",
             metadata={"lang": "de", "year": 2010, "topic": "aero"}),
    Document("A recipe for sourdough bread with a long cold proof.", id="p4",
             metadata={"lang": "en", "year": 2021, "topic": "food"}),
]  # fmt: skip


@pytest.fixture
def papers() -> RetrievalVectorStore:
    store = RetrievalVectorStore(embedding=FAKE)
    store.add_documents(PAPERS)
    return store


def test_filters_use_the_toolkit_language(papers: RetrievalVectorStore) -> None:
    query = PAPERS[0].page_content
    assert [d.id for d in papers.similarity_search(query, k=4, filter={"lang": "de"})] == ["p3"]
    recent = papers.similarity_search(query, k=4, filter={"year": {"$gte": 2005}})
    assert sorted(d.id for d in recent) == ["p2", "p3", "p4"]
    either = {"$or": [{"topic": "food"}, {"year": {"$lt": 2000}}]}
    assert sorted(d.id for d in papers.similarity_search(query, k=4, filter=either)) == [
        "p1",
        "p4",
    ]
    # the filter runs inside the search: k results among the matching items only
    assert len(papers.similarity_search(query, k=2, filter={"lang": {"$in": ["en"]}})) == 2
    with pytest.raises(FilterError, match=r"\$like"):
        papers.similarity_search(query, filter={"lang": {"$like": "e%"}})


def test_relevance_scores_are_clipped_to_unit_range(papers: RetrievalVectorStore) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LangChain warns on any score outside [0, 1]
        pairs = papers.similarity_search_with_relevance_scores(PAPERS[1].page_content, k=4)
    assert pairs[0][0].id == "p2"
    assert pairs[0][1] == 1.0  # float32 self-cosine rounds above 1; clipped
    assert all(0.0 <= score <= 1.0 for _, score in pairs)
    raw = papers.similarity_search_with_score(PAPERS[1].page_content, k=4)
    assert [s for _, s in raw] == sorted((s for _, s in raw), reverse=True)
    kept = papers.similarity_search_with_relevance_scores(
        PAPERS[1].page_content, k=4, score_threshold=0.99
    )
    assert [d.id for d, _ in kept] == ["p2"]


def test_l2_relevance_maps_distance(tmp_path: Path) -> None:
    store = RetrievalVectorStore(FAKE, ExactIndex.create(dim=8, metric="l2"))
    store.add_texts(["alpha", "beta"], ids=["a", "b"])
    (top, score), *_ = store.similarity_search_with_relevance_scores("alpha", k=2)
    assert top.id == "a"
    assert score == pytest.approx(1.0)


def test_mmr_prefers_diverse_results() -> None:
    store = RetrievalVectorStore(embedding=FAKE)
    store.add_texts(["cats purr", "cats purr", "dogs bark"], ids=["c1", "c2", "d"])
    plain = store.similarity_search("cats purr", k=2)
    assert sorted(d.id for d in plain) == ["c1", "c2"]
    diverse = store.max_marginal_relevance_search("cats purr", k=2, fetch_k=3, lambda_mult=0.3)
    assert diverse[0].page_content == "cats purr"
    assert diverse[1].id == "d"
    assert store.max_marginal_relevance_search("cats purr", k=2, filter={"x": 1}) == []
    with pytest.raises(ConfigError, match="lambda_mult"):
        store.max_marginal_relevance_search("cats", lambda_mult=2.0)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    store = RetrievalVectorStore(FAKE, path=folder)
    store.add_documents(PAPERS)
    store.save()
    assert not list(folder.rglob("*.pkl"))
    again = RetrievalVectorStore.load(folder, FAKE)
    query = PAPERS[2].page_content
    assert again.similarity_search_with_score(query, k=3) == store.similarity_search_with_score(
        query, k=3
    )
    assert again.get_by_ids(["p4"]) == [PAPERS[3]]
    assert [d.id for d in again.similarity_search(query, k=4, filter={"lang": "de"})] == ["p3"]
    moved = shutil.copytree(folder, tmp_path / "moved")  # the index sits inside: relative
    assert RetrievalVectorStore.load(moved, FAKE).get_by_ids(["p4"]) == [PAPERS[3]]
    # writes after load go to the same folder on the next save
    again.delete(["p1"])
    again.save()
    assert len(RetrievalVectorStore.load(folder, FAKE).get_by_ids(["p1", "p2"])) == 1


def test_load_detects_corruption_and_saving_in_memory_explains(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    store = RetrievalVectorStore(FAKE, path=folder)
    store.add_documents(PAPERS)
    store.save()
    manifest = json.loads((folder / "dense" / "manifest.json").read_text())
    vectors = folder / "dense" / manifest["files"]["vectors"]["path"]
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte, same size
    vectors.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        RetrievalVectorStore.load(folder, FAKE)
    with pytest.raises(ConfigError, match="path="):
        RetrievalVectorStore(FAKE).save()
    with pytest.raises(ConfigError, match="already holds"):
        RetrievalVectorStore(FAKE, path=folder)


def test_store_on_a_user_index_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths, then opened from another directory
    faiss_index = FaissIndex.create("vectors", dim=8, kind="flat", metric="ip")
    store = RetrievalVectorStore(FAKE, faiss_index, path="docs")
    store.add_texts(["one", "two"], ids=["1", "2"])
    store.save()
    monkeypatch.chdir(tmp_path / "vectors")
    again = RetrievalVectorStore.load(tmp_path / "docs", FAKE)
    assert isinstance(again.index, FaissIndex)
    assert [d.id for d in again.similarity_search("two", k=1)] == ["2"]
    with pytest.raises(ConfigError, match="in memory"):
        RetrievalVectorStore(FAKE, ExactIndex.create(dim=8), path=tmp_path / "other")


def test_langchain_indexing_api_with_incremental_cleanup() -> None:
    store = RetrievalVectorStore(embedding=FAKE)
    manager = InMemoryRecordManager(namespace="papers")
    manager.create_schema()
    docs = [Document(d.page_content, metadata={**d.metadata, "source": d.id}) for d in PAPERS]
    first = index(
        docs, manager, store, cleanup="incremental", source_id_key="source", key_encoder="sha256"
    )
    assert first["num_added"] == 4
    changed = [Document("Sourdough, revised.", metadata={**docs[3].metadata})]
    second = index(
        changed, manager, store, cleanup="incremental", source_id_key="source", key_encoder="sha256"
    )
    assert (second["num_added"], second["num_deleted"]) == (1, 1)
    texts = {d.page_content for d in store.similarity_search("bread", k=10)}
    assert "Sourdough, revised." in texts
    assert PAPERS[3].page_content not in texts
    assert len(texts) == 4


async def test_async_paths(papers: RetrievalVectorStore) -> None:
    ids = await papers.aadd_texts(["extra text"], metadatas=[{"lang": "fr"}])
    found = await papers.asimilarity_search("extra text", k=1, filter={"lang": "fr"})
    assert [d.id for d in found] == ids
    scored = await papers.asimilarity_search_with_relevance_scores("extra text", k=2)
    assert scored[0][0].id == ids[0]
    mmr = await papers.amax_marginal_relevance_search("extra text", k=2, fetch_k=4)
    assert len(mmr) == 2
    assert await papers.adelete(ids)
    assert await papers.aget_by_ids(ids) == []


def test_bad_input_changes_nothing(papers: RetrievalVectorStore) -> None:
    with pytest.raises(ConfigError, match="JSON"):
        papers.add_texts(["x"], metadatas=[{"when": object()}], ids=["bad"])
    assert papers.get_by_ids(["bad"]) == []
    with pytest.raises(ConfigError, match="appears twice"):
        papers.add_texts(["a", "b"], ids=["same", "same"])
    with pytest.raises(ConfigError, match="2 ids for 1 texts"):
        papers.add_texts(["a"], ids=["1", "2"])
    with pytest.raises(ConfigError, match="batch_size"):
        papers.add_texts(["a"], batch_size=0)
    with pytest.raises(ConfigError, match="unknown options"):
        papers.similarity_search("x", fltr={"lang": "en"})
    with pytest.raises(ConfigError, match="single string"):
        papers.delete("p1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        papers.similarity_search("x", k=0)
    with pytest.raises(ConfigError, match="embedding="):
        RetrievalVectorStore()
    assert len(papers.get_by_ids([d.id for d in PAPERS if d.id])) == 4


def test_batched_add_equals_one_add() -> None:
    one, batched = RetrievalVectorStore(FAKE), RetrievalVectorStore(FAKE)
    one.add_documents(PAPERS)
    batched.add_documents(PAPERS, batch_size=3)
    query = PAPERS[3].page_content
    assert batched.similarity_search_with_score(query, k=4) == one.similarity_search_with_score(
        query, k=4
    )


def test_returned_documents_are_copies(papers: RetrievalVectorStore) -> None:
    (doc,) = papers.get_by_ids(["p1"])
    doc.metadata["lang"] = "changed"
    assert papers.get_by_ids(["p1"])[0].metadata["lang"] == "en"


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
def test_real_model_store_and_retriever(minilm: Any) -> None:
    embeddings = RetrievalEmbeddings(minilm)
    store = RetrievalVectorStore.from_texts(
        [d.page_content for d in PAPERS],
        embeddings,
        metadatas=[d.metadata for d in PAPERS],
        ids=[d.id for d in PAPERS],
    )
    top = store.similarity_search("supersonic flow around a blunt object", k=1)
    assert top[0].id == "p1"
    retriever = store.as_retriever(search_kwargs={"k": 3, "filter": {"lang": "en"}})
    docs = retriever.invoke("how do I bake bread?", k=1)
    assert [d.id for d in docs] == ["p4"]
    assert len(retriever.invoke("flow")) == 3


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
@pytest.mark.skipif(PLAID is None, reason="late_interaction.PlaidIndex is not in this version")
async def test_plaid_store_relevance_filters_and_persistence(minilm: Any, tmp_path: Path) -> None:
    store = RetrievalVectorStore(encoder=MultiVectorTextEncoder(minilm), path=tmp_path / "s")
    store.add_documents(PAPERS)
    query = "shock waves ahead of a blunt body"
    raw = store.similarity_search_with_score(query, k=4)
    relevance = store.similarity_search_with_relevance_scores(query, k=4)
    assert raw[0][0].id == "p1"
    tokens = len(minilm.encode_queries([query], use_tqdm=False)[0])
    assert [d.id for d, _ in relevance] == [d.id for d, _ in raw]
    for (_, score), (_, rel) in zip(raw, relevance, strict=True):
        assert rel == pytest.approx(min(1.0, max(0.0, score / tokens)))  # mean MaxSim
    assert await store.asimilarity_search_with_relevance_scores(query, k=4) == relevance
    assert [d.id for d in store.similarity_search(query, k=4, filter={"lang": "de"})] == ["p3"]
    store.save()
    again = RetrievalVectorStore.load(tmp_path / "s", encoder=MultiVectorTextEncoder(minilm))
    assert isinstance(again.index, PLAID)
    assert again.similarity_search_with_score(query, k=4) == raw


@pytest.mark.realmodel
@pytest.mark.usefixtures("shared_minilm")
def test_exact_maxsim_store_round_trip(minilm: Any, tmp_path: Path) -> None:
    from adapters.collection import MaxSimIndex

    encoder = MultiVectorTextEncoder(minilm)
    index = MaxSimIndex.create(tmp_path / "s" / "index", dim=384)
    store = RetrievalVectorStore(index=index, encoder=encoder, path=tmp_path / "s")
    store.add_documents(PAPERS)
    store.save()
    again = RetrievalVectorStore.load(tmp_path / "s", encoder=encoder)
    assert isinstance(again.index, MaxSimIndex)
    query = "sourdough bread"
    assert again.similarity_search_with_score(query, k=2) == store.similarity_search_with_score(
        query, k=2
    )
    assert again.similarity_search(query, k=1)[0].id == "p4"


def test_load_refuses_other_embeddings_naming_both(
    st_legacy_mean: Path, bert_plain: Path, tmp_path: Path
) -> None:
    from langchain_core.embeddings import FakeEmbeddings

    fake = tmp_path / "fake"
    store = RetrievalVectorStore(FAKE, path=fake)
    store.add_documents(PAPERS)
    store.save()
    with pytest.raises(
        ConfigError,
        match="'DeterministicFakeEmbedding', but the embeddings given are 'FakeEmbeddings'",
    ):
        RetrievalVectorStore.load(fake, FakeEmbeddings(size=8))
    with pytest.raises(ConfigError, match="RetrievalVectorStore.load\\(path, embedding\\)"):
        RetrievalVectorStore.load(fake)  # the toolkit cannot load a foreign model itself
    model = tmp_path / "model"
    built = RetrievalVectorStore(RetrievalEmbeddings(str(st_legacy_mean), device="cpu"), path=model)
    built.add_documents(PAPERS)
    built.save()
    other = RetrievalEmbeddings(str(bert_plain), device="cpu")
    both = f"built with {str(st_legacy_mean)!r}, but the embeddings given are {str(bert_plain)!r}"
    with pytest.raises(ConfigError, match=both):
        RetrievalVectorStore.load(model, other)
    with pytest.raises(ConfigError, match="'DeterministicFakeEmbedding'"):
        RetrievalVectorStore.load(model, FAKE)
    again = RetrievalVectorStore.load(model)  # its own model, read from the collection
    query = PAPERS[0].page_content
    assert again.similarity_search_with_score(query, k=2) == built.similarity_search_with_score(
        query, k=2
    )
