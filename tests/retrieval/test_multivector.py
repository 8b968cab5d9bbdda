"""The packed multi-vector container: packing, views, validation and the boundary helper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retrieval import ConfigError, MultiVectorEmbeddings, as_multivector


def _items(lengths: list[int], dim: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(n, dim, generator=g) for n in lengths]


def test_from_list_packs_items_back_to_back() -> None:
    items = _items([3, 0, 2])
    emb = MultiVectorEmbeddings.from_list(items)
    assert emb.vectors.shape == (5, 4)
    assert emb.offsets.tolist() == [0, 3, 3, 5]
    assert emb.offsets.dtype == torch.int64
    assert emb.lengths.tolist() == [3, 0, 2]
    assert len(emb) == 3
    assert emb.dim == 4
    for got, want in zip(emb, items, strict=True):
        assert torch.equal(got, want)
    assert [t.shape[0] for t in emb.to_list()] == [3, 0, 2]
    assert torch.equal(emb[-1], items[2])


def test_getitem_is_a_view_and_checks_range() -> None:
    emb = MultiVectorEmbeddings.from_list(_items([2, 2]))
    assert emb[1].data_ptr() == emb.vectors[2:].data_ptr()
    with pytest.raises(IndexError, match="Item index 2 is out of range for a batch of 2"):
        emb[2]


def test_from_list_converts_arrays_and_keeps_float_dtypes() -> None:
    emb = MultiVectorEmbeddings.from_list([np.ones((2, 3)), np.zeros((1, 3), dtype=np.int64)])
    assert emb.vectors.dtype == torch.float32
    doubles = MultiVectorEmbeddings.from_list([torch.ones(2, 3, dtype=torch.float64)])
    assert doubles.vectors.dtype == torch.float64


def test_empty_batch() -> None:
    emb = MultiVectorEmbeddings.from_list([])
    assert len(emb) == 0
    assert emb.offsets.tolist() == [0]
    assert list(emb) == []


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([torch.ones(4)], r"Item 0 has shape \(4,\); every item must be \(n_tokens, dim\)"),
        ([torch.ones(2, 3), torch.ones(1, 2, 3)], r"Item 1 has shape \(1, 2, 3\)"),
        ([torch.ones(2, 3), torch.ones(2, 5)], "Item 1 has dim 5 but item 0 has dim 3"),
        ([torch.ones(2, 3), torch.tensor([[0.0, float("nan"), 1.0]])], "Item 1 contains NaN"),
    ],
)
def test_from_list_rejects_bad_items(items: list[torch.Tensor], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MultiVectorEmbeddings.from_list(items)


@pytest.mark.parametrize(
    ("vectors", "offsets", "message"),
    [
        (torch.ones(4), torch.tensor([0, 4]), r"2-D float tensor .* got shape \(4,\)"),
        (torch.ones(4, 2, dtype=torch.int64), torch.tensor([0, 4]), "dtype torch.int64"),
        (torch.ones(4, 2), torch.tensor([0, 4], dtype=torch.int32), "int64 tensor"),
        (torch.ones(4, 2), torch.tensor([1, 4]), "offsets\\[0\\]=1"),
        (torch.ones(4, 2), torch.tensor([0, 3]), "end at total_tokens=4"),
        (torch.ones(4, 2), torch.tensor([0, 3, 1, 4]), "never decrease"),
    ],
)
def test_constructor_checks_structure(
    vectors: torch.Tensor, offsets: torch.Tensor, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        MultiVectorEmbeddings(vectors, offsets)


def test_as_multivector_accepts_the_three_forms() -> None:
    emb = MultiVectorEmbeddings.from_list(_items([1, 2]))
    assert as_multivector(emb) is emb
    assert as_multivector(_items([1, 2, 3])).lengths.tolist() == [1, 2, 3]
    single = as_multivector(torch.ones(5, 4))
    assert len(single) == 1
    assert single.lengths.tolist() == [5]
    assert as_multivector(np.ones((2, 3))).vectors.dtype == torch.float32


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.ones(2, 3, 4), r"tensor of shape \(2, 3, 4\).*list of \(n_i, dim\)"),
        (np.ones(3), r"tensor of shape \(3,\)"),
        ("text", "from str"),
        (42, "from int"),
    ],
)
def test_as_multivector_rejects_other_shapes(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        as_multivector(value)


def test_to_moves_both_tensors() -> None:
    emb = MultiVectorEmbeddings.from_list(_items([2])).to("cpu")
    assert emb.vectors.device.type == emb.offsets.device.type == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_items_stay_on_the_gpu() -> None:
    emb = MultiVectorEmbeddings.from_list([t.cuda() for t in _items([2, 0, 3])])
    assert emb.vectors.is_cuda
    assert emb.offsets.is_cuda
    assert emb[2].shape == (3, 4)
    with pytest.raises(ConfigError, match="is on cpu but item 0 is on cuda"):
        MultiVectorEmbeddings.from_list([torch.ones(1, 2).cuda(), torch.ones(1, 2)])
