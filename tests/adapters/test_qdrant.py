"""Qdrant adapter against qdrant-client's in-process local mode (the server's API): round trip
of dense, sparse and multi-vector named vectors, exact agreement with the toolkit's own
indexes and MaxSim, persistence, and the Index protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from adapters.qdrant import ID_KEY, QdrantIndex, QdrantStore, point_id
from indexes import ExactIndex, SparseIndex
from late_interaction import maxsim
from retrieval import ConfigError, FilterError, Index, SparseEmbeddings

pytest.importorskip("qdrant_client")

N, DIM, VOCAB, MV_DIM = 60, 16, 200, 8


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def make_data(seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    dense = unit(rng.normal(size=(N, DIM)))
    sparse_items = []
    for _ in range(N):
        idx = rng.choice(VOCAB, size=int(rng.integers(3, 12)), replace=False)
        sparse_items.append((idx, rng.uniform(0.1, 2.0, size=len(idx)).astype(np.float32)))
    multi = [unit(rng.normal(size=(int(rng.integers(2, 7)), MV_DIM))) for _ in range(N)]
    meta = [{"group": i % 4, "name": f"doc{i}", "even": i % 2 == 0} for i in range(N)]
    return {
        "ids": [f"d{i}" for i in range(N)],
        "dense": dense,
        "sparse": SparseEmbeddings.from_items(sparse_items, VOCAB),
        "multi": multi,
        "meta": meta,
    }


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    return make_data()


def full_store(data: dict[str, object], **kwargs: object) -> QdrantStore:
    store = QdrantStore.create(
        dense_dim=DIM,
        sparse=True,
        multivector_dim=MV_DIM,
        **kwargs,  # type: ignore[arg-type]
    )
    store.add(
        data["ids"],  # type: ignore[arg-type]
        dense=data["dense"],
        sparse=data["sparse"],
        multivector=data["multi"],
        metadata=data["meta"],  # type: ignore[arg-type]
    )
    return store


@pytest.fixture(scope="module")
def store(data: dict[str, object]) -> QdrantStore:
    return full_store(data)


def assert_same_ranking(got: list, want: list) -> None:  # type: ignore[type-arg]
    assert [h.id for h in got] == [h.id for h in want]
    np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-5)


def test_round_trip_of_all_three_representations(
    store: QdrantStore, data: dict[str, object]
) -> None:
    ids = data["ids"]
    points = store.client.retrieve(
        store.collection, [point_id(i) for i in ids], with_vectors=True, with_payload=True
    )
    by_id = {p.payload[ID_KEY]: p for p in points}
    assert sorted(by_id) == sorted(ids)
    assert len(store) == N
    sparse: SparseEmbeddings = data["sparse"]  # type: ignore[assignment]
    for i, doc_id in enumerate(ids):  # type: ignore[arg-type]
        vectors = by_id[doc_id].vector
        np.testing.assert_allclose(vectors["dense"], data["dense"][i], atol=1e-6)  # type: ignore[index]
        indices, values = sparse[i]
        assert vectors["sparse"].indices == indices.tolist()
        np.testing.assert_allclose(vectors["sparse"].values, values, rtol=1e-6)
        np.testing.assert_allclose(vectors["multivector"], data["multi"][i], atol=1e-6)  # type: ignore[index]
        assert by_id[doc_id].payload["name"] == f"doc{i}"
    assert point_id("d1") == point_id("d1") != point_id("d2")  # deterministic uuid5
    assert [store.count(kind) for kind in ("dense", "sparse", "multivector")] == [N, N, N]


def test_each_representation_ranks_like_the_toolkit(
    store: QdrantStore, data: dict[str, object]
) -> None:
    rng = np.random.default_rng(1)
    exact = ExactIndex.create(dim=DIM)
    exact.add(data["ids"], data["dense"], data["meta"])  # type: ignore[arg-type]
    sparse_index = SparseIndex.create(vocab_size=VOCAB)
    sparse_index.add(data["ids"], data["sparse"], data["meta"])  # type: ignore[arg-type]
    query = unit(rng.normal(size=DIM))
    assert_same_ranking(store.search("dense", query, k=10), exact.search(query, k=10))
    sparse_query = (np.array([1, 5, 17, 42, 99]), np.array([0.5, 1.0, 0.2, 2.0, 0.7]))
    # Qdrant returns only documents sharing a term; SparseIndex pads with zero scores.
    want = sparse_index.search(sparse_query, k=10, filter={"even": True})
    got = store.search("sparse", sparse_query, k=10, filter={"even": True})
    assert 0 < len(got) < 10
    assert_same_ranking(got, [h for h in want if h.score > 0])
    q_tokens = unit(rng.normal(size=(4, MV_DIM)))
    truth = maxsim(torch.from_numpy(q_tokens), [torch.from_numpy(m) for m in data["multi"]])  # type: ignore[attr-defined]
    order = torch.argsort(truth, descending=True)[:10].tolist()
    got = store.search("multivector", q_tokens, k=10)
    assert [h.id for h in got] == [f"d{i}" for i in order]
    np.testing.assert_allclose([h.score for h in got], truth[order].numpy(), rtol=1e-5)
    batch = store.search_batch("dense", data["dense"][:3], k=1)  # type: ignore[index]
    assert [hits[0].id for hits in batch] == ["d0", "d1", "d2"]


def test_index_views_follow_the_protocol(data: dict[str, object]) -> None:
    store = QdrantStore.create(dense_dim=DIM, sparse=True)
    dense_view, sparse_view = QdrantIndex(store, "dense"), QdrantIndex(store, "sparse")
    assert isinstance(dense_view, Index)
    assert len(dense_view) == 0
    ids = data["ids"][:10]  # type: ignore[index]
    dense_view.add(ids, data["dense"][:10], data["meta"][:10])  # type: ignore[index]
    assert len(dense_view) == 10
    assert len(sparse_view) == 0
    sparse: SparseEmbeddings = data["sparse"]  # type: ignore[assignment]
    sparse_view.add(ids[:4], [sparse[i] for i in range(4)])  # keeps dense + metadata
    assert len(sparse_view) == 4
    assert len(dense_view) == 10
    hit = dense_view.search(data["dense"][2], k=1)[0]  # type: ignore[index]
    assert hit.id == "d2"
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert hit.metadata == {"group": 2, "name": "doc2", "even": True}
    assert sparse_view.search(sparse[3], k=1)[0].id == "d3"
    dense_view.add(["d2"], data["dense"][5:6], [{"group": 9}])  # upsert replaces metadata  # type: ignore[index]
    assert dense_view.search(data["dense"][5], k=2)[0].metadata == {"group": 9}  # type: ignore[index]
    dense_view.delete(["d2", "unknown"])
    assert len(dense_view) == 9
    assert len(sparse_view) == 3
    dense_view.save()  # Qdrant commits every write itself


def test_persists_in_a_local_folder(tmp_path: Path, data: dict[str, object]) -> None:
    path = str(tmp_path / "qdrant")
    store = full_store(data, path=path)
    query = data["dense"][7]  # type: ignore[index]
    before = store.search("dense", query, k=5)
    store.client.close()
    reopened = QdrantStore.open(path=path)
    assert reopened.layout == store.layout
    assert len(reopened) == N
    assert_same_ranking(reopened.search("dense", query, k=5), before)
    assert reopened.search("multivector", data["multi"][3], k=1)[0].id == "d3"  # type: ignore[index]
    reopened.client.close()


def test_l2_scores_are_minus_squared_distance(data: dict[str, object]) -> None:
    store = QdrantStore.create(dense_dim=DIM, dense_metric="l2")
    store.add(data["ids"], dense=data["dense"])  # type: ignore[arg-type]
    exact = ExactIndex.create(dim=DIM, metric="l2")
    exact.add(data["ids"], data["dense"])  # type: ignore[arg-type]
    query = np.full(DIM, 0.1, np.float32)
    assert_same_ranking(store.search("dense", query, k=5), exact.search(query, k=5))


def test_bad_inputs_are_clear_errors(store: QdrantStore, data: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        QdrantStore.create(store.collection, client=store.client, dense_dim=DIM)
    with pytest.raises(ConfigError, match="at least one"):
        QdrantStore.create("other")
    with pytest.raises(ConfigError, match="dimension 3"):
        store.search("dense", np.ones(3), k=1)
    with pytest.raises(ConfigError, match="no 'sparse' vector"):
        QdrantStore.create("dense_only", dense_dim=DIM).search("sparse", {1: 1.0})
    with pytest.raises(ConfigError, match="2 ids but 1"):
        store.add(["a", "b"], dense=data["dense"][:1])  # type: ignore[index]
    with pytest.raises(FilterError, match="reserved key"):
        store.add(["a"], dense=data["dense"][:1], metadata=[{ID_KEY: "x"}])  # type: ignore[index]
    with pytest.raises(FilterError, match="numbers only"):
        store.search("dense", data["dense"][0], filter={"name": {"$gt": "doc3"}})  # type: ignore[index]
    with pytest.raises(FilterError, match="Unknown filter operator"):
        store.search("dense", data["dense"][0], filter={"name": {"$ne": "doc3"}})  # type: ignore[index]
    with pytest.raises(ConfigError, match="k must be"):
        store.search("dense", data["dense"][0], k=0)  # type: ignore[index]
