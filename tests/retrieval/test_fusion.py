"""Fusion: RRF and weighted normalised-score fusion against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import ConfigError, Fusion, Hit, reciprocal_rank_fusion, weighted_fusion
from retrieval.fusion import DEFAULT_FUSION, normalize_scores


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
    # x: a=1, b=.5, c=0 ; y: c=1, a=.4, d=0 ; weights x=1, y=2, a convex combination (/3);
    # b is missing from y and d from x: each gets that list's lowest value (0 after min-max).
    fused = dict(weighted_fusion({"x": A, "y": B}, weights={"y": 2.0}))
    assert fused == pytest.approx({"a": 1.8 / 3, "b": 0.5 / 3, "c": 2.0 / 3, "d": 0.0})
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
        ({"normalize": "l2"}, "Valid: dbsf, minmax, zscore, none"),
        ({"rrf_k": -1.0}, "rrf_k"),
        ({"weights": {"dense": -1.0}}, "'dense'"),
    ],
)
def test_bad_config(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Fusion(**kwargs)  # type: ignore[arg-type]


def test_dbsf_by_the_published_formula() -> None:
    # Qdrant's DBSF: (s - (mean - 3 std)) / (6 std), clipped to [0, 1]
    scores = np.array([3.0, 1.0, 2.0])
    mean, std = 2.0, np.sqrt(2 / 3)
    want = (scores - (mean - 3 * std)) / (6 * std)
    np.testing.assert_allclose(normalize_scores(scores, "dbsf"), want)
    np.testing.assert_allclose(normalize_scores(np.array([4.0, 4.0]), "dbsf"), [0.5, 0.5])
    outlier = np.zeros(20)
    outlier[0] = 100.0  # z = sqrt(19) > 3: clipped to 1
    assert normalize_scores(outlier, "dbsf")[0] == 1.0


def test_missing_ids_get_the_lists_lowest_value() -> None:
    # x: a, b, c; y: c, a, d (module constants A and B)
    x = np.array([3.0, 2.0, 1.0])
    y = np.array([10.0, 4.0, 0.0])
    zx, zy = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
    fused = dict(weighted_fusion({"x": A, "y": B}, normalize="zscore"))
    # b is absent from y, d from x: each takes that list's minimum, not the mean (0)
    assert fused["b"] == pytest.approx((zx[1] + zy.min()) / 2)
    assert fused["d"] == pytest.approx((zx.min() + zy[2]) / 2)
    assert fused["a"] == pytest.approx((zx[0] + zy[1]) / 2)


def test_agreement_weights_silence_a_list_that_disagrees() -> None:
    ids = [f"d{i}" for i in range(8)]
    truth = np.arange(8, 0, -1, dtype=float)  # d0 best
    good = {"p": truth, "q": truth + np.array([0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5])}
    noise = np.array([1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 5.0, 4.0])  # anti-correlated
    rankings = {
        name: [Hit(i, float(s)) for i, s in zip(ids, v, strict=True)]
        for name, v in {**good, "w": noise}.items()
    }
    fixed = Fusion("weighted", normalize="zscore").fuse(rankings)
    agreed = Fusion("weighted", normalize="zscore", weighting="agreement").fuse(rankings)
    assert [i for i, _ in agreed][:3] == ["d0", "d1", "d2"]  # w (weight 0) is ignored
    assert [i for i, _ in fixed][:2] != ["d0", "d1"]  # with a fixed weight, w drags it down
    # the definition, computed here: weight = max(0, corr(z_s, mean of the others' z))
    z = {k: (v - v.mean()) / v.std() for k, v in {**good, "w": noise}.items()}
    weight = {
        k: max(0.0, np.corrcoef(z[k], np.mean([z[o] for o in z if o != k], axis=0))[0, 1])
        for k in z
    }
    assert weight["w"] == 0.0
    assert weight["p"] > 0.5
    assert weight["q"] > 0.5
    want = sum(weight[k] * z[k][3] for k in z) / sum(weight.values())
    assert dict(agreed)["d3"] == pytest.approx(want)
    # two lists always weigh the same; nothing agreeing falls back to the given weights
    two = {k: rankings[k] for k in ("p", "w")}
    assert Fusion("weighted", normalize="zscore", weighting="agreement").fuse(two) == (
        Fusion("weighted", normalize="zscore").fuse(two)
    )


def test_labels_and_descriptions() -> None:
    assert Fusion().label == "rrf"
    assert Fusion("weighted").label == "minmax"
    assert Fusion("weighted", normalize="none").label == "weighted"
    assert DEFAULT_FUSION.label == "zscore"
    assert DEFAULT_FUSION.describe() == "zscore (agreement-weighted)"
    assert Fusion("rrf", weights={"m": 2}).describe() == "rrf k=60 weights m=2"
    with pytest.raises(ConfigError, match="Valid: fixed, agreement"):
        Fusion("weighted", weighting="vote")  # type: ignore[arg-type]
