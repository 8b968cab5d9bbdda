"""The MaxSim kernel parts: chunk planning within the budget, and both segment-max paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from late_interaction._chunks import (
    QUERY_TOKENS_PER_PASS,
    TALL_QUERY_TOKENS,
    DocumentChunks,
    document_chunks,
    query_groups,
)
from retrieval import MultiVectorEmbeddings


@pytest.mark.parametrize("chunk_tokens", [1, 3, 10, 1000])
def test_document_chunks_cover_all_documents_within_budget(chunk_tokens: int) -> None:
    lengths = [0, 4, 0, 0, 12, 1, 1, 7, 0]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    chunks = list(document_chunks(offsets, chunk_tokens))
    assert chunks[0][0] == 0
    assert chunks[-1][1] == len(lengths)
    assert [start for start, _ in chunks[1:]] == [stop for _, stop in chunks[:-1]]
    for start, stop in chunks:
        tokens = offsets[stop] - offsets[start]
        assert stop > start
        assert tokens <= chunk_tokens or stop - start == 1  # only a lone long document exceeds
        assert stop - start <= max(chunk_tokens, 1)


def test_document_chunks_of_an_empty_batch() -> None:
    assert list(document_chunks(np.array([0]), 8)) == []


def test_query_groups_respect_the_pass_size() -> None:
    lengths = [32] * 20 + [QUERY_TOKENS_PER_PASS + 5, 1]
    groups = list(query_groups(lengths))
    assert groups[0] == (0, QUERY_TOKENS_PER_PASS // 32)
    assert groups[-2:] == [(20, 21), (21, 22)]
    assert sum(stop - start for start, stop in groups) == len(lengths)
    assert list(query_groups([])) == []


@pytest.mark.parametrize("q_tokens", [4, TALL_QUERY_TOKENS, TALL_QUERY_TOKENS + 1])
def test_cpu_reduceat_and_gpu_scatter_reductions_agree(q_tokens: int) -> None:
    """Both CPU layouts (tall up to TALL_QUERY_TOKENS query tokens, wide above) and the GPU
    reduction give the per-document maxima of the definition, empty documents 0."""
    g = torch.Generator().manual_seed(0)
    items = [torch.randn(n, 8, generator=g) for n in (3, 0, 5, 1, 0, 7)]
    docs = MultiVectorEmbeddings.from_list(items)
    packed = torch.randn(q_tokens, 8, generator=g)
    for chunk_tokens in (4, 100):
        reduceat = DocumentChunks(docs, chunk_tokens, use_scatter=False)
        scatter = DocumentChunks(docs, chunk_tokens, use_scatter=True)
        for start, stop in reduceat:
            want = torch.stack(
                [
                    (packed @ d.T).amax(dim=1) if len(d) else torch.zeros(q_tokens)
                    for d in items[start:stop]
                ],
                dim=1,
            )
            torch.testing.assert_close(reduceat.maxima(packed, start, stop), want)
            torch.testing.assert_close(scatter.maxima(packed, start, stop), want)
