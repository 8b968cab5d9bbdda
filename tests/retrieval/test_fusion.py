"""Fusion: RRF and weighted normalised-score fusion against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import ConfigError, Fusion, Hit, reciprocal_rank_fusion, weighted_fusion
from retrieval.fusion import normalize_scores


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(i, s) for i, s in pairs]


A = hits(("a", 3.0), ("b", 2.0), ("c", 1.0))
B = hits(("c", 10.0), ("a", 4.0), ("d", 0.0))


def test_rrf_by_hand() -> None:
    fused = dict(reciprocal_rank_fusion({"x": A, "y": B}, rrf_k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 63)
    order = [i for i, _ in reciprocal_rank_fusion({"x": A, "y": B})]
    assert order == ["a", "c", "b", "d"]


def test_rrf_weights_and_constant() -> None:
    fused = dict(reciprocal_rank_fusion({"x": A, "y": B}, rrf_k=0, weights={"y": 3.0}))
    assert fused["c"] == pytest.approx(1 / 3 + 3 / 1)
    assert fused["a"] == pytest.approx(1 / 1 + 3 / 2)
    assert (
        next(i for i, _ in reciprocal_rank_fusion({"x": A, "y": B}, rrf_k=0, weights={"y": 3}))
        == "c"
    )


def test_weighted_minmax_by_hand() -> None:
    # x: a=1, b=.5, c=0 ; y: c=1, a=.4, d=0 ; weights x=1, y=2
    fused = dict(weighted_fusion({"x": A, "y": B}, weights={"y": 2.0}))
    assert fused == pytest.approx({"a": 1.8, "b": 0.5, "c": 2.0, "d": 0.0})
    order = [i for i, _ in Fusion("weighted", weights={"y": 2.0}).fuse({"x": A, "y": B})]
    assert order == ["c", "a", "b", "d"]


def test_normalizations() -> None:
    np.testing.assert_allclose(normalize_scores(np.array([3.0, 1.0, 2.0]), "minmax"), [1, 0, 0.5])
    np.testing.assert_allclose(normalize_scores(np.array([2.0, 2.0]), "minmax"), [1, 1])
    np.testing.assert_allclose(normalize_scores(np.array([1.0, 3.0]), "zscore"), [-1, 1])
    np.testing.assert_allclose(normalize_scores(np.array([5.0, 5.0]), "zscore"), [0, 0])
    np.testing.assert_allclose(normalize_scores(np.array([5.0, -1.0]), "none"), [5, -1])


def test_ties_keep_first_seen_order() -> None:
    fused = reciprocal_rank_fusion({"x": hits(("p", 1.0)), "y": hits(("q", 1.0))})
    assert [i for i, _ in fused] == ["p", "q"]


def test_empty_and_single() -> None:
    assert reciprocal_rank_fusion({}) == []
    assert [i for i, _ in weighted_fusion({"x": A})] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"method": "max"}, "Valid: rrf, weighted"),
        ({"normalize": "l2"}, "Valid: minmax, zscore, none"),
        ({"rrf_k": -1.0}, "rrf_k"),
        ({"weights": {"dense": -1.0}}, "'dense'"),
    ],
)
def test_bad_config(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Fusion(**kwargs)  # type: ignore[arg-type]
