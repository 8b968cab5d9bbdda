"""Hit and the dense / sparse input containers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from retrieval import ConfigError, Hit, SparseEmbeddings, as_dense, as_sparse


def test_hit_is_frozen() -> None:
    hit = Hit("a", 1.0, {"k": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.score = 2.0  # type: ignore[misc]
    assert Hit("b", 0.5).metadata == {}


def test_as_dense_accepts_arrays_tensors_and_lists() -> None:
    assert as_dense([1, 2, 3], 3).shape == (1, 3)
    assert as_dense(torch.ones(2, 3, dtype=torch.float64), 3).dtype == np.float32
    assert as_dense(np.zeros((4, 3)), 3).flags.c_contiguous
    with pytest.raises(ConfigError, match="dimension 4 but the index was created with dim=3"):
        as_dense(np.zeros((2, 4)), 3)
    with pytest.raises(ConfigError, match=r"shape \(n, dim\)"):
        as_dense(np.zeros((2, 2, 2)))
    with pytest.raises(ConfigError, match="NaN"):
        as_dense([[np.nan, 1.0]])


def test_sparse_containers_pack_items_of_every_shape() -> None:
    class FastembedLike:
        indices = np.array([7, 2])
        values = np.array([0.5, 1.5])

    packed = as_sparse([([3, 1, 3], [1.0, 2.0, 0.5]), {5: 1.0, 6: 0.0}, FastembedLike()], 10)
    assert len(packed) == 3
    assert packed.nnz == 5
    indices, values = packed[0]
    assert indices.tolist() == [1, 3]
    assert values.tolist() == [2.0, 1.5]  # repeats summed
    assert packed[1][0].tolist() == [5]  # explicit zero dropped
    assert packed[2][0].tolist() == [2, 7]
    single = as_sparse(([1, 2], [0.1, 0.2]), 10)
    assert len(single) == 1
    assert as_sparse(packed, 10) is packed


def test_sparse_errors_show_the_bad_value() -> None:
    with pytest.raises(ConfigError, match=r"Sparse index 12 is outside the vocabulary \[0, 10\)"):
        as_sparse([([12], [1.0])], 10)
    with pytest.raises(
        ConfigError, match="vocab_size=10 but the index was created with vocab_size=20"
    ):
        as_sparse(SparseEmbeddings.from_items([([1], [1.0])], 10), 20)
    with pytest.raises(ConfigError, match="2 indices but 1 values"):
        as_sparse([([1, 2], [1.0])], 10)
    with pytest.raises(ConfigError, match="Cannot read a sparse vector from str"):
        as_sparse(["nope"], 10)
