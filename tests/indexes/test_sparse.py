"""SparseIndex specifics: exactness against scipy, the append tail, compaction, memory."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from indexes import SparseIndex
from indexes.sparse_postings import Postings
from retrieval import ConfigError, SparseEmbeddings
from tests.indexes.cases import VOCAB, random_sparse


def _csr(sparse: SparseEmbeddings) -> scipy.sparse.csr_matrix:
    return scipy.sparse.csr_matrix(
        (sparse.values, sparse.indices, sparse.indptr), shape=(len(sparse), sparse.vocab_size)
    )


def _check_against_scipy(index: SparseIndex, docs: SparseEmbeddings, live: np.ndarray) -> None:
    queries = random_sparse(8, 77, nnz=6)
    scores = (_csr(queries) @ _csr(docs).T).toarray()
    for row, hits in enumerate(index.search_batch(queries, k=15)):
        allowed = np.where(live, scores[row], -np.inf)
        want = np.sort(allowed)[::-1][:15]
        np.testing.assert_allclose([h.score for h in hits], want, rtol=1e-5, atol=1e-6)
        for hit in hits:
            assert live[int(hit.id)]
            assert scores[row, int(hit.id)] == pytest.approx(hit.score, rel=1e-5, abs=1e-6)


def test_exact_through_appends_rebuilds_and_compaction() -> None:
    docs = random_sparse(12_000, 1)
    index = SparseIndex.create(vocab_size=VOCAB)
    for start in range(0, 12_000, 1000):  # small appends: rows pile up in the tail first
        rows = range(start, start + 1000)
        index.add(
            [str(i) for i in rows], SparseEmbeddings.from_items([docs[i] for i in rows], VOCAB)
        )
    postings = index._postings
    assert postings.n_indexed < postings.n_rows  # some rows are still scored from the tail
    live = np.ones(12_000, bool)
    _check_against_scipy(index, docs, live)
    index.delete([str(i) for i in range(0, 12_000, 2)])
    live[::2] = False
    _check_against_scipy(index, docs, live)
    before = index.nbytes
    index.delete([str(i) for i in range(1, 6000, 2)])  # now 3/4 dead: compaction
    live[1:6000:2] = False
    assert index._postings.n_rows == 3000
    assert index.nbytes < before / 2
    _check_against_scipy(index, docs, live)


def test_memory_grows_with_non_zeros() -> None:
    small = Postings(VOCAB)
    small.append(random_sparse(2000, 2, nnz=10))
    large = Postings(VOCAB)
    large.append(random_sparse(2000, 2, nnz=40))
    fixed = (VOCAB + 1) * 8 + 2001 * 8  # term_ptr and indptr do not depend on nnz
    assert (large.nbytes - fixed) == pytest.approx(4 * (small.nbytes - fixed), rel=0.02)


def test_items_without_shared_terms_fill_the_top_k_with_zero_scores() -> None:
    index = SparseIndex.create(vocab_size=10)
    index.add(["a", "b", "c"], [{1: 1.0}, {2: 1.0}, {3: 2.0}])
    hits = index.search({3: 1.0, 9: 5.0}, k=3)
    assert [(h.id, h.score) for h in hits] == [("c", 2.0), ("a", 0.0), ("b", 0.0)]


def test_vocabulary_errors() -> None:
    with pytest.raises(ConfigError, match="vocab_size must be a positive integer"):
        SparseIndex.create(vocab_size=0)
    index = SparseIndex.create(vocab_size=10)
    with pytest.raises(ConfigError, match=r"Sparse index 10 is outside the vocabulary \[0, 10\)"):
        index.add(["a"], [{10: 1.0}])
    with pytest.raises(ConfigError, match="search takes one query; got 2"):
        index.search([{1: 1.0}, {2: 1.0}])
