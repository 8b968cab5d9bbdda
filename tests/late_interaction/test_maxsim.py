"""MaxSim: the fast packed path against the naive reference, and the edges of its contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from late_interaction import maxsim, maxsim_matrix, maxsim_reference
from retrieval import ConfigError, MultiVectorEmbeddings


def _unit(generator: torch.Generator, n: int, dim: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, dim, generator=generator), dim=-1)


def _corpus(seed: int, n_docs: int, max_len: int, dim: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, max_len + 1, (n_docs,), generator=g).tolist()
    return [_unit(g, n, dim) for n in lengths]


def test_hand_computed_score() -> None:
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    doc = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # token 0: max(1, 0.6) = 1; token 1: max(0, 0.8) = 0.8
    assert maxsim(query, [doc]).tolist() == pytest.approx([1.8])
    assert maxsim(query, [doc], reduce="mean").tolist() == pytest.approx([0.9])
    assert maxsim_reference(query, [doc]).tolist() == pytest.approx([1.8])


@pytest.mark.parametrize(
    ("q_tokens", "dim", "n_docs", "max_len", "chunk_tokens"),
    [
        (1, 1, 1, 1, 1),
        (32, 128, 40, 120, 512),
        (32, 128, 40, 120, 8192),
        (7, 96, 25, 300, 64),  # many documents longer than a chunk
        (64, 16, 200, 5, 3),
        (5, 8, 3, 0, 4),  # only empty documents
        (300, 32, 10, 50, 100),  # more query tokens than one pass takes
    ],
)
def test_fast_path_matches_reference(
    q_tokens: int, dim: int, n_docs: int, max_len: int, chunk_tokens: int
) -> None:
    docs = _corpus(q_tokens + dim, n_docs, max_len, dim)
    query = _unit(torch.Generator().manual_seed(1), q_tokens, dim)
    for reduce in ("sum", "mean"):
        fast = maxsim(query, docs, reduce=reduce, chunk_tokens=chunk_tokens)
        assert fast.dtype == torch.float32
        assert fast.shape == (n_docs,)
        torch.testing.assert_close(
            fast, maxsim_reference(query, docs, reduce), rtol=1e-5, atol=1e-5
        )


def test_scores_do_not_depend_on_the_chunk_size() -> None:
    docs = MultiVectorEmbeddings.from_list(_corpus(3, 60, 80, 32))
    query = _unit(torch.Generator().manual_seed(4), 16, 32)
    base = maxsim(query, docs, chunk_tokens=1 << 20)
    for chunk_tokens in (1, 2, 17, 80, 81, 500):
        torch.testing.assert_close(maxsim(query, docs, chunk_tokens=chunk_tokens), base)


def test_mean_is_sum_over_query_tokens() -> None:
    docs = _corpus(5, 10, 30, 16)
    query = _unit(torch.Generator().manual_seed(6), 12, 16)
    torch.testing.assert_close(maxsim(query, docs, reduce="mean"), maxsim(query, docs) / 12)


def test_query_mask_drops_tokens_from_sum_and_count() -> None:
    docs = _corpus(7, 15, 40, 16)
    query = _unit(torch.Generator().manual_seed(8), 10, 16)
    mask = torch.tensor([True, False] * 5)
    for reduce in ("sum", "mean"):
        masked = maxsim(query, docs, reduce=reduce, query_mask=mask)
        torch.testing.assert_close(masked, maxsim_reference(query[mask], docs, reduce))


def test_empty_documents_score_zero_and_empty_batch_is_empty() -> None:
    query = -torch.ones(3, 4)  # negative similarities: an empty doc's 0 ranks above them
    docs = [torch.ones(2, 4), torch.zeros(0, 4), torch.ones(1, 4)]
    assert maxsim(query, docs).tolist() == [-12.0, 0.0, -12.0]
    assert maxsim(query, MultiVectorEmbeddings.from_list([])).shape == (0,)


def test_matrix_matches_one_query_at_a_time() -> None:
    docs = MultiVectorEmbeddings.from_list(_corpus(9, 30, 60, 32))
    g = torch.Generator().manual_seed(10)
    queries = [_unit(g, n, 32) for n in (32, 1, 17, 32, 250, 3)]
    matrix = maxsim_matrix(queries, docs, reduce="mean", chunk_tokens=100)
    assert matrix.shape == (6, 30)
    for row, query in zip(matrix, queries, strict=True):
        torch.testing.assert_close(row, maxsim_reference(query, docs, "mean"))


def test_matrix_accepts_fixed_length_query_tensor_and_many_groups() -> None:
    docs = _corpus(11, 12, 20, 8)
    queries = F.normalize(
        torch.randn(20, 32, 8, generator=torch.Generator().manual_seed(12)), dim=-1
    )
    matrix = maxsim_matrix(queries, docs)
    want = torch.stack([maxsim_reference(q, docs) for q in queries])
    torch.testing.assert_close(matrix, want)
    assert maxsim_matrix([], docs).shape == (0, 12)


def test_numpy_and_low_precision_inputs() -> None:
    docs = _corpus(13, 8, 10, 8)
    query = _unit(torch.Generator().manual_seed(14), 4, 8)
    want = maxsim_reference(query, docs)
    from_numpy = maxsim(query.numpy(), [d.numpy() for d in docs])
    torch.testing.assert_close(from_numpy, want)
    half = maxsim(query, [d.half() for d in docs])  # CPU computes fp16 storage in fp32
    torch.testing.assert_close(half, want, rtol=2e-3, atol=2e-3)
    double = maxsim(query.double(), [d.double() for d in docs])
    assert double.dtype == torch.float32
    torch.testing.assert_close(double, want)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (torch.ones(4, 3), r"query has dim 3 \(shape \(4, 3\)\) but the documents have dim 8"),
        (torch.ones(0, 8), r"query has no tokens \(shape \(0, 8\)\)"),
        (torch.ones(8), r"query must have shape \(q_tokens, dim\); got shape \(8,\)"),
        (torch.full((2, 8), float("nan")), "query contains NaN"),
    ],
)
def test_bad_queries_are_named(query: torch.Tensor, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        maxsim(query, [torch.ones(3, 8)])


def test_bad_options_are_named() -> None:
    query, docs = torch.ones(4, 8), [torch.ones(3, 8)]
    with pytest.raises(ConfigError, match="Unknown reduce 'max'. Valid: sum, mean"):
        maxsim(query, docs, reduce="max")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Unknown reduce 'max'"):
        maxsim_reference(query, docs, reduce="max")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"bool tensor of shape \(4,\).*got shape \(3,\)"):
        maxsim(query, docs, query_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ConfigError, match="dtype torch.int64"):
        maxsim(query, docs, query_mask=torch.ones(4, dtype=torch.int64))
    with pytest.raises(ConfigError, match="query_mask keeps no query token"):
        maxsim(query, docs, query_mask=torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ConfigError, match="chunk_tokens must be a positive"):
        maxsim(query, docs, chunk_tokens=0)
    with pytest.raises(ConfigError, match=r"query 1 has dim 2 \(shape \(1, 2\)\)"):
        maxsim_matrix([torch.ones(2, 8), torch.ones(1, 2)], docs)
    with pytest.raises(ConfigError, match="Cannot read queries from int"):
        maxsim_matrix(3, docs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Item 1 has dim 5 but item 0 has dim 8"):
        maxsim(query, [torch.ones(3, 8), torch.ones(2, 5)])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_documents_score_on_the_gpu() -> None:
    cpu_docs = _corpus(15, 50, 100, 64)
    docs = MultiVectorEmbeddings.from_list([d.cuda() for d in cpu_docs])
    query = _unit(torch.Generator().manual_seed(16), 32, 64)
    fast = maxsim(query, docs, chunk_tokens=500)
    assert fast.is_cuda
    torch.testing.assert_close(fast.cpu(), maxsim_reference(query, cpu_docs), rtol=1e-3, atol=1e-3)
    half = maxsim(query, MultiVectorEmbeddings.from_list([d.half() for d in docs]))
    torch.testing.assert_close(half.cpu(), maxsim_reference(query, cpu_docs), rtol=2e-2, atol=2e-2)


def test_docstring_example_runs() -> None:
    import doctest
    import importlib

    # the package re-exports the function under the module's name, so import by path
    module = importlib.import_module("late_interaction.maxsim")
    assert doctest.testmod(module).failed == 0


def test_maxsim_rows_scores_chosen_documents_of_a_packed_array() -> None:
    """The candidate path (``score_ids``): any subset, in any order, empty documents 0."""
    import numpy as np

    from late_interaction import gather_documents, maxsim_rows

    docs = _corpus(3, 40, 9, 16)  # lengths 0..9: some documents are empty
    assert any(len(d) == 0 for d in docs)
    packed = MultiVectorEmbeddings.from_list(docs)
    tokens, offsets = packed.vectors.numpy(), packed.offsets.numpy()
    query = _unit(torch.Generator().manual_seed(4), 5, 16)
    rows = np.array([7, 0, 31, 7, 12, 39, 2])  # unordered, with a repeat
    want = maxsim_reference(query, [docs[r] for r in rows.tolist()])
    assert maxsim_rows(query, tokens, offsets, rows).tolist() == pytest.approx(
        want.tolist(), abs=1e-5
    )
    gathered = gather_documents(tokens, offsets, rows)
    assert [t.shape[0] for t in gathered] == [len(docs[r]) for r in rows.tolist()]
    assert maxsim_rows(query, tokens, offsets, rows[:0]).shape == (0,)
