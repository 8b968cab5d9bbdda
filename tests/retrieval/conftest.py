"""The dense and sparse indexes over the toy corpus that test_retriever and test_rescore
search (doc ``d<n>`` scores best for query ``n``)."""

from __future__ import annotations

import pytest

from indexes import ExactIndex, SparseIndex
from tests.retrieval.test_retriever import IDS, METADATA, N_DOCS, _dense, _sparse


@pytest.fixture
def indexes() -> tuple[ExactIndex, SparseIndex]:
    dense = ExactIndex.create(dim=2, metric="ip")
    dense.add(IDS, _dense(range(N_DOCS)), METADATA)
    sparse = SparseIndex.create(vocab_size=N_DOCS + 2)
    sparse.add(IDS, _sparse(range(N_DOCS)), METADATA)
    return dense, sparse
