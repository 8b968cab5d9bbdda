"""The multi-stage Retriever over real in-memory indexes and spy stages.

Documents live on a line: doc ``i`` has the 2-d unit vector at angle ``i`` degrees-ish and a
one-hot sparse vector; metadata ``{"group": i % 3, "n": i}``. The spies record every id a
stage returns or sees, which is how the shared filter is proven to reach every stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from indexes import ExactIndex, SparseIndex
from retrieval import (
    ConfigError,
    Fusion,
    Hit,
    IndexStage,
    RankedHit,
    RerankStage,
    Retriever,
    SparseEmbeddings,
)
from retrieval.filters import Filter

N_DOCS = 30
IDS = [f"d{i}" for i in range(N_DOCS)]
METADATA = [{"group": i % 3, "n": i} for i in range(N_DOCS)]


def _dense(values: Sequence[float]) -> np.ndarray:
    angles = np.asarray(values, np.float64) / 20.0
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def _sparse(values: Sequence[float]) -> SparseEmbeddings:
    # Doc i weighs term i with 1.0 and term i+1 with 0.5: a query for term t ranks t first.
    items = [{int(v): 1.0, int(v) + 1: 0.5} for v in values]
    return SparseEmbeddings.from_items(items, vocab_size=N_DOCS + 2)


class CountingEncoder:
    """Queries are numbers written as text; gives dense and sparse from one 'forward pass'."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode_queries(self, queries: Sequence[str]) -> Mapping[str, Any]:
        self.calls.append(list(queries))
        values = [float(q) for q in queries]
        return {"dense": _dense(values), "sparse": _sparse(values)}


class SpyIndex:
    """Wraps an index, records the ids it returned (and can ignore the filter)."""

    def __init__(self, inner: Any, *, ignore_filter: bool = False) -> None:
        self.inner, self.ignore_filter = inner, ignore_filter
        self.returned: list[str] = []
        self.filters: list[Filter | None] = []

    def search_batch(self, queries: Any, k: int = 10, filter: Filter | None = None) -> Any:
        self.filters.append(filter)
        lists = self.inner.search_batch(queries, k, None if self.ignore_filter else filter)
        self.returned += [h.id for hits in lists for h in hits]
        return lists


class SpyReranker:
    """Scores a candidate by minus its distance to the query number; records what it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]) -> list[Any]:
        self.seen += [h.id for hits in candidates for h in hits]
        return [
            [-abs(h.metadata.get("n", 0) - float(q)) for h in hits]
            for q, hits in zip(queries, candidates, strict=True)
        ]


def _hybrid(
    indexes: tuple[ExactIndex, SparseIndex], *, ignore_filter: bool = False, top_n: int = 5
) -> tuple[Retriever, CountingEncoder, SpyIndex, SpyIndex, SpyReranker]:
    encoder, reranker = CountingEncoder(), SpyReranker()
    dense = SpyIndex(indexes[0], ignore_filter=ignore_filter)
    sparse = SpyIndex(indexes[1], ignore_filter=ignore_filter)
    retriever = Retriever(
        [
            IndexStage("dense", encoder, dense, "dense", depth=8),
            IndexStage("sparse", encoder, sparse, "sparse", depth=8),
        ],
        fusion=Fusion("rrf", rrf_k=60),
        rerank=[RerankStage("rerank", reranker, top_n=top_n)],
    )
    return retriever, encoder, dense, sparse, reranker


def test_hits_carry_ids_metadata_and_every_stage_score(indexes: Any) -> None:
    retriever, encoder, *_ = _hybrid(indexes)
    hits = retriever.search("12", k=3)
    top = hits[0]
    assert isinstance(top, RankedHit)
    assert top.id == "d12"
    assert top.metadata == {"group": 0, "n": 12}
    assert set(top.scores) == {"dense", "sparse", "rrf", "rerank"}
    assert top.score == top.scores["rerank"] == 0.0
    # d12 is first in both lists: RRF = 2 / 61; sparse = 1 * 1 (term 12) + .5 * .5 (term 13).
    assert top.scores["rrf"] == pytest.approx(2 / 61)
    assert top.scores["sparse"] == pytest.approx(1.25)
    assert top.scores["dense"] == pytest.approx(1.0, abs=1e-6)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert encoder.calls == [["12"]]  # two stages, one encoder: encoded once
    assert top.to_dict()["scores"]["rerank"] == 0.0


def test_filter_reaches_every_stage(indexes: Any) -> None:
    flt = {"group": {"$in": [1, 2]}, "n": {"$lt": 20}}
    retriever, _, dense, sparse, reranker = _hybrid(indexes)
    batches = retriever.search_batch(["3", "12", "27"], k=5, filter=flt)

    def allowed(doc_id: str) -> bool:
        n = int(doc_id[1:])
        return n % 3 in (1, 2) and n < 20

    for seen in (dense.returned, sparse.returned, reranker.seen):
        assert seen
        assert all(allowed(i) for i in seen)
    assert all(allowed(h.id) for hits in batches for h in hits)
    assert dense.filters == [flt]
    assert sparse.filters == [flt]
    # Without the filter the same queries do return excluded documents: the filter mattered.
    unfiltered = _hybrid(indexes)[0].search_batch(["3", "12", "27"], k=5)
    assert any(not allowed(h.id) for hits in unfiltered for h in hits)


def test_filter_enforced_even_if_an_index_ignores_it(indexes: Any) -> None:
    retriever, _, dense, _, reranker = _hybrid(indexes, ignore_filter=True)
    hits = retriever.search("12", k=5, filter={"group": 1})
    assert any(int(i[1:]) % 3 != 1 for i in dense.returned)  # the index did leak ...
    assert reranker.seen
    assert all(int(i[1:]) % 3 == 1 for i in reranker.seen)
    assert hits
    assert all(h.metadata["group"] == 1 for h in hits)


def test_batch_equals_single_queries(indexes: Any) -> None:
    retriever, *_ = _hybrid(indexes)
    queries = ["0", "7", "15", "29"]
    batch = retriever.search_batch(queries, k=4, filter={"n": {"$gte": 2}})
    single = [retriever.search(q, k=4, filter={"n": {"$gte": 2}}) for q in queries]
    # Same hits; scores equal up to float32 rounding (a batched matrix product vs one row).
    assert [[h.id for h in hits] for hits in batch] == [[h.id for h in hits] for hits in single]
    for got, want in zip(batch, single, strict=True):
        for a, b in zip(got, want, strict=True):
            assert a.scores == pytest.approx(b.scores, abs=1e-6)
            assert a.metadata == b.metadata


def test_top_n_and_k_truncate(indexes: Any) -> None:
    retriever, *_ = _hybrid(indexes, top_n=2)
    assert len(retriever.search("10", k=10)) == 2
    retriever, *_ = _hybrid(indexes, top_n=6)
    assert len(retriever.search("10", k=3)) == 3


def test_single_stage_passes_through_and_k_raises_depth(indexes: Any) -> None:
    encoder = CountingEncoder()
    retriever = Retriever(IndexStage("sparse", encoder, indexes[1], "sparse", depth=2))
    hits = retriever.search("4", k=5)
    assert hits[0].id == "d4"
    assert {h.id for h in hits[1:3]} == {"d3", "d5"}
    assert len(hits) == 5
    assert hits[0].scores == {"sparse": pytest.approx(1.25)}
    assert "rrf" not in hits[1].scores


def test_weighted_fusion_label(indexes: Any) -> None:
    encoder = CountingEncoder()
    retriever = Retriever(
        [
            IndexStage("dense", encoder, indexes[0], "dense", depth=5),
            IndexStage("sparse", encoder, indexes[1], "sparse", depth=5),
        ],
        fusion="weighted",
    )
    top = retriever.search("20", k=1)[0]
    assert top.id == "d20"
    # the fused score is labelled by its normalisation; tops of both lists: mean 1.0
    assert top.scores["minmax"] == pytest.approx(1.0)
    assert top.kind == "minmax"
    assert retriever.score_kind == "minmax"


def test_rerank_given_candidates_with_filter() -> None:
    reranker = SpyReranker()
    retriever = Retriever(rerank=RerankStage("rerank", reranker, top_n=2))
    candidates = [Hit("d5", 9.0, {"n": 5}), Hit("d9", 8.0, {"n": 9}), Hit("d6", 7.0, {"n": 6})]
    hits = retriever.rerank("6", candidates, filter={"n": {"$gt": 5}}, source="bm25")
    assert reranker.seen == ["d9", "d6"]
    assert [h.id for h in hits] == ["d6", "d9"]
    assert hits[0].scores == {"bm25": 7.0, "rerank": -0.0}
    assert retriever.rerank_batch(["1"], [["x", "y"]], k=1)[0][0].scores["candidates"] == 0.0


def test_rerank_ties_keep_incoming_order() -> None:
    class Flat:
        def score(self, queries: Sequence[str], candidates: Any) -> list[list[float]]:
            return [[1.0] * len(c) for c in candidates]

    retriever = Retriever(rerank=[RerankStage("flat", Flat())])
    assert [h.id for h in retriever.rerank("q", ["c", "a", "b"])] == ["c", "a", "b"]


def test_errors(indexes: Any) -> None:
    encoder = CountingEncoder()
    stage = IndexStage("dense", encoder, indexes[0], "dense")
    with pytest.raises(ConfigError, match="named 'dense'"):
        Retriever([stage, IndexStage("dense", encoder, indexes[1], "sparse")])
    with pytest.raises(ConfigError, match="labels the fusion score"):
        Retriever([stage, IndexStage("zscore", encoder, indexes[1], "sparse")])
    with pytest.raises(ConfigError, match="labels the fusion score"):
        Retriever([stage, IndexStage("rrf", encoder, indexes[1], "sparse")], fusion="rrf")
    with pytest.raises(ConfigError, match="depth"):
        IndexStage("d", encoder, indexes[0], depth=0)
    with pytest.raises(ConfigError, match="encode_queries"):
        IndexStage("d", object(), indexes[0])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'multivector'"):
        Retriever(IndexStage("m", encoder, indexes[0], "multivector")).search("1")
    with pytest.raises(ConfigError, match="single string"):
        Retriever(stage).search_batch("1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        Retriever(stage).search("1", k=0)
    with pytest.raises(ConfigError, match="no first stage"):
        Retriever().search("1")
    with pytest.raises(ConfigError, match=r"\$near"):
        Retriever(stage).search("1", filter={"n": {"$near": 1}})

    class Short:
        def score(self, queries: Sequence[str], candidates: Any) -> list[list[float]]:
            return [[1.0] for _ in candidates]

    with pytest.raises(ConfigError, match="must score every candidate"):
        Retriever(stage, rerank=[RerankStage("short", Short())]).search("1", k=3)
    assert Retriever(stage).search_batch([]) == []
