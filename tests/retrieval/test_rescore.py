"""Rescore stages and the default hybrid: first-stage candidates rescored by another index's
exact score (``score_ids``), every score fused; ``retrieval.hybrid`` builds it from parts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from retrieval import ConfigError, Fusion, Hit, IndexStage, RerankStage, Retriever
from retrieval.fusion import normalize_scores
from retrieval.hybrid import (
    DEFAULT_HYBRID,
    HybridPart,
    fusion_from,
    hybrid_reranker,
    hybrid_retriever,
)
from retrieval.stages import RescoreStage
from tests.retrieval.test_retriever import (
    IDS,
    METADATA,
    CountingEncoder,
    SpyReranker,
    _dense,
)


class TableIndex:
    """A 'token index' whose exact score of doc ``d<n>`` for query ``q`` is ``-|n - q - 1|``
    (it prefers the next document), scored by id; records every id it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def score_ids(self, queries: Any, ids: Sequence[Sequence[str]]) -> list[np.ndarray]:
        out = []
        for query, wanted in zip(queries, ids, strict=True):
            self.asked += list(wanted)
            out.append(np.array([-abs(int(i[1:]) - query - 1) for i in wanted], np.float64))
        return out

    def search_batch(self, queries: Any, k: int = 10, filter: Any = None) -> list[list[Hit]]:
        scores = [self.score_ids([q], [IDS])[0] for q in queries]
        return [
            [Hit(IDS[i], float(s[i]), dict(METADATA[i])) for i in np.argsort(-s)[:k]]
            for s in scores
        ]


class TokenEncoder(CountingEncoder):
    """Adds a 'multivector' output (the query number) to the dense / sparse ones."""

    def encode_queries(self, queries: Sequence[str]) -> Any:
        out = dict(super().encode_queries(queries))
        out["multivector"] = [float(q) for q in queries]
        return out


def test_rescore_scores_every_candidate_then_fuses(indexes: Any) -> None:
    encoder, tokens = TokenEncoder(), TableIndex()
    retriever = Retriever(
        IndexStage("dense", encoder, indexes[0], "dense", depth=6),
        rescore=RescoreStage("maxsim", encoder, tokens),
        fusion=Fusion("weighted", normalize="minmax"),
    )
    hits = retriever.search("12", k=6)
    assert encoder.calls == [["12"]]  # one forward pass feeds the first stage and the rescore
    dense_ids = {h.id for h in indexes[0].search(_dense([12.0]), k=6)}
    assert set(tokens.asked) == dense_ids == {h.id for h in hits}  # rescored only candidates
    for hit in hits:
        assert set(hit.scores) == {"dense", "maxsim", "minmax"}
        assert hit.kind == "minmax"
        assert hit.score == hit.scores["minmax"]
    # the fused score is the mean of the two min-max normalised lists, worked out here
    dense_scores = np.array([h.scores["dense"] for h in hits])
    token_scores = np.array([h.scores["maxsim"] for h in hits])
    want = (normalize_scores(dense_scores, "minmax") + normalize_scores(token_scores, "minmax")) / 2
    assert [h.score for h in hits] == pytest.approx(want.tolist())
    assert hits[0].id in ("d12", "d13")  # d12 tops dense, d13 tops the token scorer
    assert retriever.score_kind == "minmax"
    assert "maxsim(all)" in repr(retriever)


def test_rescore_sees_only_filtered_candidates(indexes: Any) -> None:
    encoder, tokens = TokenEncoder(), TableIndex()
    retriever = Retriever(
        [
            IndexStage("dense", encoder, indexes[0], "dense", depth=8),
            IndexStage("sparse", encoder, indexes[1], "sparse", depth=8),
        ],
        rescore=[RescoreStage("maxsim", encoder, tokens)],
    )
    hits = retriever.search("12", k=5, filter={"group": 1})
    assert tokens.asked
    assert all(int(i[1:]) % 3 == 1 for i in tokens.asked)
    assert all(h.metadata["group"] == 1 for h in hits)


def test_hybrid_rerank_fuses_the_candidates_scores_with_every_scorer() -> None:
    first, second = SpyReranker(), SpyReranker()
    retriever = hybrid_reranker([("a", first), ("b", second)])
    candidates = [Hit("d5", 9.0, {"n": 5}), Hit("d9", 8.0, {"n": 9}), Hit("d6", 7.0, {"n": 6})]
    hits = retriever.rerank("6", candidates, source="bm25")
    assert first.seen == ["d5", "d9", "d6"]
    assert sorted(second.seen) == sorted(first.seen)
    label = DEFAULT_HYBRID.fusion.label
    assert set(hits[0].scores) == {"bm25", "a", "b", label}
    # The candidates' scores are a third list, fused as the hybrid fuses its first stages.
    lists = {
        "bm25": [Hit(c.id, c.score) for c in candidates],
        **{name: [Hit(h.id, h.scores[name]) for h in hits] for name in ("a", "b")},
    }
    expected = DEFAULT_HYBRID.fusion.fuse(lists)
    assert [(h.id, h.score) for h in hits] == [(i, pytest.approx(s)) for i, s in expected]
    # Candidates all scored alike (or bare ids) carry no evidence: the scorers alone decide;
    # one scorer alone keeps its own order and score (no fusion).
    flat = [Hit(c.id, 1.0, c.metadata) for c in candidates]
    assert [h.id for h in retriever.rerank("6", flat)] == ["d6", "d5", "d9"]
    alone = hybrid_reranker([("a", SpyReranker())], fuse_candidates=False)
    ranked = alone.rerank("6", candidates)
    assert [h.id for h in ranked] == ["d6", "d5", "d9"]
    assert ranked[0].kind == "a"
    # A source named like a stage would overwrite that stage's scores: refused.
    with pytest.raises(ConfigError, match="source='a'"):
        retriever.rerank("6", candidates, source="a")


def test_hybrid_retriever_rescored_by_the_token_part(indexes: Any) -> None:
    encoder, tokens = TokenEncoder(), TableIndex()
    parts = [
        HybridPart("dense", encoder, indexes[0], "dense"),
        HybridPart("maxsim", encoder, tokens, "multivector"),
        HybridPart("sparse", encoder, indexes[1], "sparse"),
    ]
    retriever = hybrid_retriever(parts, depth=5)
    assert [s.name for s in retriever.stages] == ["dense", "sparse"]
    assert [s.depth for s in retriever.stages] == [3, 3]  # 5 candidates in all, shared out
    assert [s.depth for s in hybrid_retriever(parts).stages] == [50, 50]  # the default 100
    assert [s.name for s in retriever.rescore_stages] == ["maxsim"]
    assert retriever.fusion == DEFAULT_HYBRID.fusion
    hits = retriever.search("20", k=3)
    assert set(hits[0].scores) == {"dense", "sparse", "maxsim", DEFAULT_HYBRID.fusion.label}
    # a token index alone searches (it is the only stage)
    alone = hybrid_retriever([parts[1]])
    assert [s.name for s in alone.stages] == ["maxsim"]
    assert not alone.rescore_stages
    assert alone.search("20", k=1)[0].id == "d21"


def test_fusion_names() -> None:
    assert fusion_from(None) == DEFAULT_HYBRID.fusion
    assert fusion_from("rrf", rrf_k=10).rrf_k == 10
    assert fusion_from("rrf").label == "rrf"
    assert fusion_from("zscore").label == "zscore"
    assert fusion_from("weighted").label == "minmax"  # the old name of min-max fusion
    assert fusion_from(None, weights={"dense": 2}).weights == {"dense": 2}
    assert fusion_from("agreement") == DEFAULT_HYBRID.fusion
    with pytest.raises(ConfigError, match="Valid: agreement, zscore"):
        fusion_from("max")


def test_errors(indexes: Any) -> None:
    encoder = TokenEncoder()
    with pytest.raises(ConfigError, match="score_ids"):
        RescoreStage("maxsim", encoder, object())
    with pytest.raises(ConfigError, match="keeps every candidate"):
        Retriever(rescore=[RerankStage("cut", SpyReranker(), top_n=3)])
    with pytest.raises(ConfigError, match="named 'maxsim'"):
        Retriever(
            IndexStage("maxsim", encoder, indexes[0], "dense"),
            rescore=RescoreStage("maxsim", encoder, TableIndex()),
        )
    with pytest.raises(ConfigError, match="at least one part"):
        hybrid_retriever([])
