"""SparseIndex specifics: exactness against scipy through appends, segment merges and
compaction; the term-major segment operations; memory; folders of format 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from indexes import SparseIndex, sparse_postings, term_major
from indexes.sparse_postings import Postings
from retrieval import ConfigError, SparseEmbeddings
from tests.indexes.cases import VOCAB, random_sparse

FORMAT1 = Path(__file__).parent / "data" / "sparse_format1"


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


def test_exact_through_appends_merges_and_compaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sparse_postings, "_SMALL_SEGMENT", 2000)  # let segments pile up
    docs = random_sparse(12_000, 1)
    index = SparseIndex.create(vocab_size=VOCAB)
    for start in range(0, 12_000, 1000):
        rows = range(start, start + 1000)
        index.add(
            [str(i) for i in rows], SparseEmbeddings.from_items([docs[i] for i in rows], VOCAB)
        )
        assert index.n_segments <= 5  # merged geometrically, not one segment per add
    assert index.n_segments > 1  # several segments are searched together
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


def _dense_rows(segment: term_major.Segment, n_rows: int) -> np.ndarray:
    """``(n_rows, vocab)`` matrix of a segment, read term by term (the naive reference)."""
    out = np.zeros((n_rows, len(segment.ptr) - 1), np.float32)
    for term in range(len(segment.ptr) - 1):
        span = slice(segment.ptr[term], segment.ptr[term + 1])
        rows = segment.rows[span]
        assert np.all(np.diff(rows) > 0)  # each term's postings in increasing row order
        out[rows, term] = segment.values[span]
    return out


@pytest.mark.parametrize("vocab", [VOCAB, 70_000])  # radix (uint16) and int32 sort keys
def test_segment_build_merge_and_filter_match_a_dense_reference(
    monkeypatch: pytest.MonkeyPatch, vocab: int
) -> None:
    monkeypatch.setattr(term_major, "_CHUNK", 37)  # many chunks, rows straddling them
    docs = random_sparse(300, 3, nnz=9, vocab=vocab)
    dense = _csr(docs).toarray()
    first = term_major.from_rows(
        docs.indptr[:121],
        docs.indices[: docs.indptr[120]],
        docs.values[: docs.indptr[120]],
        vocab,
        first_row=0,
    )
    rest = docs.indptr[120:] - docs.indptr[120]
    second = term_major.from_rows(
        rest,
        docs.indices[docs.indptr[120] :],
        docs.values[docs.indptr[120] :],
        vocab,
        first_row=120,
    )
    np.testing.assert_array_equal(
        _dense_rows(first, 300), np.where(np.arange(300)[:, None] < 120, dense, 0)
    )
    merged = term_major.merge(first, second)
    np.testing.assert_array_equal(_dense_rows(merged, 300), dense)
    live = np.random.default_rng(0).random(300) < 0.4
    renumber = np.cumsum(live) - 1
    kept = term_major.keep_rows(merged, live, renumber)
    np.testing.assert_array_equal(_dense_rows(kept, int(live.sum())), dense[live])


def test_memory_is_eight_bytes_per_non_zero() -> None:
    small = Postings(VOCAB)
    small.append(random_sparse(2000, 2, nnz=10))
    large = Postings(VOCAB)
    large.append(random_sparse(2000, 2, nnz=40))
    fixed = (VOCAB + 1) * 8  # one segment's term offsets
    assert small.nbytes == fixed + 8 * 2000 * 10
    assert large.nbytes == fixed + 8 * 2000 * 40


def test_saved_folder_holds_one_term_major_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sparse_postings, "_SMALL_SEGMENT", 10)
    docs = random_sparse(900, 4)
    index = SparseIndex.create(tmp_path / "idx", vocab_size=VOCAB)
    for start in range(0, 900, 100):
        index.add(
            [str(i) for i in range(start, start + 100)],
            SparseEmbeddings.from_items([docs[i] for i in range(start, start + 100)], VOCAB),
        )
    assert index.n_segments > 1
    index.save()
    assert index.n_segments == 1
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert sorted(manifest["files"]) == [
        "labels",
        "live",
        "metadata",
        "term_ptr",
        "term_rows",
        "term_values",
    ]
    _check_against_scipy(SparseIndex.open(tmp_path / "idx"), docs, np.ones(900, bool))


# The folder in tests/indexes/data/sparse_format1 was written by the previous release
# (row-major files, format 1) from these items: d3 deleted, d1 replaced by an upsert.
FORMAT1_ITEMS = {
    "d0": ({1: 1.0, 7: 0.5}, {"lang": "en"}),
    "d1": ({1: 3.0, 49: 1.0}, {"lang": "de", "v": 2}),
    "d2": ({1: 0.25, 3: 1.0, 49: 4.0}, {}),
    "d4": ({}, {"lang": "fr"}),
    "d5": ({3: 0.5, 2: 0.5}, {"lang": "en"}),
}


def _check_format1_items(index: SparseIndex) -> None:
    query = {1: 1.0, 49: 1.0, 2: 0.5}
    want = {
        key: sum(weight * query.get(term, 0.0) for term, weight in item.items())
        for key, (item, _) in FORMAT1_ITEMS.items()
    }
    hits = index.search(query, k=10)
    assert len(index) == len(hits) == 5
    assert {h.id: h.score for h in hits} == pytest.approx(want)
    assert {h.id: h.metadata for h in hits} == {k: meta for k, (_, meta) in FORMAT1_ITEMS.items()}
    assert [h.id for h in index.search(query, k=2, filter={"lang": "en"})] == ["d0", "d5"]


def test_a_format1_folder_opens_and_is_rewritten_as_format2_on_save(tmp_path: Path) -> None:
    folder = shutil.copytree(FORMAT1, tmp_path / "old")
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == 1
    index = SparseIndex.open(folder)
    _check_format1_items(index)
    index.add(["d6"], [{2: 1.0}])
    index.save()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert not list(folder.glob("indptr.*"))  # the row-major files were swept
    reopened = SparseIndex.open(folder)
    assert [h.id for h in reopened.search({2: 1.0}, k=1)] == ["d6"]
    reopened.delete(["d6"])
    _check_format1_items(reopened)


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
