"""``best_rows`` / ``top_k``: the sampled-threshold top-k against a full sort."""

from __future__ import annotations

import numpy as np
import pytest

from indexes.rows import best_rows, top_k


def _reference(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best values, ties to the lower index: a full stable sort."""
    return np.lexsort((np.arange(len(row)), -row))[:k]


def _rows(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    sparse = np.zeros(n, np.float32)  # sparse scores: mostly exact zeros
    sparse[rng.integers(0, n, 3)] = rng.random(3, dtype=np.float32) + 0.5
    masked = -rng.integers(0, 4, n).astype(np.float32)
    masked[rng.random(n) < 0.5] = -np.inf  # deleted / filtered rows
    return {
        "distinct": rng.random(n, dtype=np.float32),
        "few values": rng.integers(0, 3, n).astype(np.float32),
        "mostly zero": sparse,
        "increasing": np.sort(rng.random(n, dtype=np.float32)),
        "negative and masked": masked,
    }


@pytest.mark.parametrize("n", [1, 7, 300, 5_000, 150_000])
def test_best_rows_matches_a_full_sort(n: int) -> None:
    rng = np.random.default_rng(n)
    for name, row in _rows(rng, n).items():
        for k in sorted({1, min(n, 10), min(n, 64), n if n <= 300 else 1000}):
            got = best_rows(row, k)
            np.testing.assert_array_equal(got, _reference(row, k), err_msg=f"{name}, k={k}")


def test_top_k_pads_past_the_live_rows_and_respects_the_mask() -> None:
    scores = np.array([[0.5, 0.9, 0.9, 0.1], [0.0, 0.0, 0.0, 0.0]], np.float32)
    mask = np.array([True, False, True, True])
    rows, best = top_k(scores.copy(), mask, 5)
    assert rows.tolist() == [[2, 0, 3, -1, -1], [0, 2, 3, -1, -1]]
    assert best[0, :3].tolist() == pytest.approx([0.9, 0.5, 0.1])
    assert np.isneginf(best[:, 3:]).all()
