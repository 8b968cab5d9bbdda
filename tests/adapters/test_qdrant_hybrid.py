"""Qdrant hybrid queries and filters against the toolkit's own pipeline on the same data.

Hybrid: ``retrieval.Retriever`` over exact toolkit indexes (ExactIndex, SparseIndex, exact
MaxSim) fused by RRF, versus one Retriever stage over ``QdrantHybridIndex`` (prefetch + RRF
inside Qdrant). Filters: Qdrant's selection versus ``retrieval.filters`` on the same metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from adapters.qdrant import HybridQueryEncoder, QdrantHybridIndex, QdrantStore, to_qdrant_filter
from indexes import ExactIndex, SparseIndex
from late_interaction import maxsim
from retrieval import Fusion, Hit, IndexStage, Retriever, SparseEmbeddings, compile_filter
from retrieval.filters import Filter
from tests.adapters.test_qdrant import DIM, MV_DIM, VOCAB, N, full_store, make_data, unit

pytest.importorskip("qdrant_client")
DEPTH = 20


class ExactMaxSimIndex:
    """Brute-force MaxSim over stored token vectors (the toolkit's ``maxsim``), filter-aware."""

    def __init__(self, ids: list[str], docs: list[np.ndarray], meta: list[dict[str, Any]]):
        self.ids, self.meta = ids, meta
        self.docs = [torch.from_numpy(d) for d in docs]

    def search_batch(
        self, queries: Sequence[Any], k: int = 10, filter: Filter | None = None
    ) -> list[list[Hit]]:
        compiled = compile_filter(filter)
        keep = [i for i, m in enumerate(self.meta) if compiled is None or compiled.matches(m)]
        out = []
        for query in queries:
            scores = maxsim(torch.as_tensor(query), [self.docs[i] for i in keep])
            order = torch.argsort(scores, descending=True, stable=True)[:k].tolist()
            out.append(
                [Hit(self.ids[keep[j]], float(scores[j]), dict(self.meta[keep[j]])) for j in order]
            )
        return out


class FixedEncoder:
    """A QueryEncoder returning precomputed representations for known query texts."""

    def __init__(self, table: Mapping[str, Mapping[str, Any]]) -> None:
        self.table = table

    def encode_queries(self, queries: Sequence[str]) -> dict[str, Any]:
        rows = [self.table[q] for q in queries]
        return {
            "dense": np.stack([r["dense"] for r in rows]),
            "sparse": [r["sparse"] for r in rows],
            "multivector": [r["multivector"] for r in rows],
        }


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    data = make_data(seed=3)
    ids, meta = data["ids"], data["meta"]
    # Every document shares one faint term with every query, so each sparse list ranks all
    # documents by a positive score: Qdrant returns only documents sharing a term, while
    # SparseIndex pads with zero-score ones, and RRF would credit those ranks differently.
    sparse_docs: SparseEmbeddings = data["sparse"]  # type: ignore[assignment]
    shared = [
        (np.append(idx, VOCAB - 1), np.append(val, 0.01 + 0.001 * i))
        for i, (idx, val) in enumerate(sparse_docs)
    ]
    data["sparse"] = SparseEmbeddings.from_items(shared, VOCAB)
    exact = ExactIndex.create(dim=DIM)
    exact.add(ids, data["dense"], meta)  # type: ignore[arg-type]
    sparse = SparseIndex.create(vocab_size=VOCAB)
    sparse.add(ids, data["sparse"], meta)  # type: ignore[arg-type]
    multi = ExactMaxSimIndex(ids, data["multi"], meta)  # type: ignore[arg-type]
    rng = np.random.default_rng(7)
    table = {}
    for q in range(6):
        terms = np.append(rng.choice(VOCAB - 1, size=11, replace=False), VOCAB - 1)
        table[f"q{q}"] = {
            "dense": unit(rng.normal(size=DIM)),
            "sparse": (terms, rng.uniform(0.2, 1.5, size=12).astype(np.float32)),
            "multivector": unit(rng.normal(size=(3, MV_DIM))),
        }
    encoder = FixedEncoder(table)
    toolkit = Retriever(
        [
            IndexStage("dense", encoder, exact, "dense", depth=DEPTH),
            IndexStage("sparse", encoder, sparse, "sparse", depth=DEPTH),
            IndexStage("multivector", encoder, multi, "multivector", depth=DEPTH),
        ],
        fusion=Fusion("rrf", rrf_k=60),
    )
    store = full_store(data)
    qdrant = Retriever(
        IndexStage(
            "qdrant",
            HybridQueryEncoder(encoder),
            QdrantHybridIndex(store, prefetch_k=DEPTH, rrf_k=60),
            "hybrid",
            depth=DEPTH,
        )
    )
    return {"toolkit": toolkit, "qdrant": qdrant, "queries": sorted(table), "store": store}


def _by_score(hits: Sequence[Hit]) -> list[tuple[float, str]]:
    """Hits as (rounded score, id), so ties in RRF compare regardless of order."""
    return sorted((-round(h.score, 9), h.id) for h in hits)


@pytest.mark.parametrize("filter", [None, {"group": {"$in": [1, 2]}}, {"even": True}])
@pytest.mark.parametrize("k", [10, DEPTH])
def test_hybrid_equals_the_toolkit_rrf_pipeline(
    setup: dict[str, Any], filter: Filter | None, k: int
) -> None:
    queries = setup["queries"]
    want = setup["toolkit"].search_batch(queries, k=k, filter=filter)
    got = setup["qdrant"].search_batch(queries, k=k, filter=filter)
    for w, g in zip(want, got, strict=True):
        assert len(g) == len(w) == k
        # Same fused scores in the same order; RRF ties (equal rank sums) may list their
        # ids in either order, so ids are compared above the last (possibly cut) tie.
        np.testing.assert_allclose([h.score for h in g], [h.score for h in w], rtol=1e-6)
        last = w[-1].score
        assert {h.id for h in g if h.score > last + 1e-12} == {
            h.id for h in w if h.score > last + 1e-12
        }
        if filter is not None:
            assert all(compile_filter(filter).matches(h.metadata) for h in g)  # type: ignore[union-attr]


def test_hybrid_store_call_with_a_subset_of_representations(setup: dict[str, Any]) -> None:
    store: QdrantStore = setup["store"]
    data = make_data(seed=3)
    hits = store.hybrid_search(dense=data["dense"][4], multivector=data["multi"][4], k=3)  # type: ignore[index]
    assert hits[0].id == "d4"
    assert hits[0].score == pytest.approx(2 / 61)  # rank 1 in both lists


# -- filters -----------------------------------------------------------------------------
def tricky_metadata(n: int, seed: int) -> list[dict[str, Any]]:
    """Values of every type class, lists, nulls and missing fields."""
    rng = np.random.default_rng(seed)
    choices: list[Any] = [2001, 2001.0, 2005, 1999.5, "2001", True, False, 1, 0, None, [2001]]
    langs: list[Any] = ["en", "fr", "de", ["en", "fr"], None, 7]
    out = []
    for i in range(n):
        meta: dict[str, Any] = {"i": i}
        if rng.random() < 0.85:
            meta["year"] = choices[int(rng.integers(len(choices)))]
        if rng.random() < 0.85:
            meta["lang"] = langs[int(rng.integers(len(langs)))]
        if rng.random() < 0.5:
            meta["flag"] = [True, False, 1, 0, "true"][int(rng.integers(5))]
        out.append(meta)
    return out


FILTERS: list[dict[str, Any]] = [
    {"year": 2001},
    {"year": 2001.0},
    {"year": "2001"},
    {"year": True},
    {"flag": 1},
    {"flag": True},
    {"lang": "en"},
    {"lang": {"$in": ["en", "de", 7]}},
    {"year": {"$in": [1999.5, "2001", False]}},
    {"year": {"$gte": 2001}},
    {"year": {"$gt": 1999.5, "$lt": 2005}},
    {"year": {"$lte": 1}},
    {"i": {"$gte": 10, "$lt": 30}},
    {"lang": "en", "year": {"$gt": 2000}},
    {"$or": [{"lang": "fr"}, {"year": {"$lt": 2000}}]},
    {"$and": [{"$or": [{"lang": "en"}, {"lang": "de"}]}, {"flag": {"$in": [True, 0]}}]},
    {"$or": [{"missing": 1}, {"i": 3}]},
]


@pytest.fixture(scope="module")
def filter_store() -> tuple[QdrantStore, list[str], list[dict[str, Any]]]:
    meta = tricky_metadata(N, seed=11)
    ids = [f"m{i}" for i in range(N)]
    store = QdrantStore.create("filters", dense_dim=DIM)
    store.add(ids, dense=make_data(seed=4)["dense"], metadata=meta)
    return store, ids, meta


@pytest.mark.parametrize("filter", FILTERS, ids=[str(f) for f in FILTERS])
def test_filters_select_what_the_toolkit_selects(
    filter_store: tuple[QdrantStore, list[str], list[dict[str, Any]]], filter: Filter
) -> None:
    store, ids, meta = filter_store
    compiled = compile_filter(filter)
    assert compiled is not None
    want = {doc_id for doc_id, m in zip(ids, meta, strict=True) if compiled.matches(m)}
    points, _ = store.client.scroll(
        store.collection, scroll_filter=to_qdrant_filter(filter), limit=10 * N, with_payload=True
    )
    got = {p.payload["_toolkit_id"] for p in points}
    assert got == want
    hits = store.search("dense", np.ones(DIM, np.float32), k=N, filter=filter)
    assert {h.id for h in hits} == want


def test_filter_data_covers_the_edge_cases(
    filter_store: tuple[QdrantStore, list[str], list[dict[str, Any]]],
) -> None:
    """The comparison above is only meaningful if the data has every trap in it."""
    _, _, meta = filter_store
    years = [m.get("year", "absent") for m in meta]
    assert any(isinstance(y, list) for y in years)
    assert any(y is True for y in years)
    assert "2001" in years
    assert any(isinstance(y, float) and y == 2001 for y in years)
    assert any(isinstance(m.get("lang"), list) and "en" in m["lang"] for m in meta)
    sizes = [
        sum(compile_filter(f).matches(m) for m in meta)  # type: ignore[union-attr]
        for f in FILTERS
    ]
    assert all(0 < s < N for s in sizes[:-1])
    assert sizes[-1] == 1
    assert isinstance(make_data(seed=4)["sparse"], SparseEmbeddings)
