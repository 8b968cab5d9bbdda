"""PlaidIndex's exact side stores (``rescore="fp16"`` / ``"int8"``) and the search depth
derived from the index (``ndocs=None``): quantization bounds, recall floors against brute
force MaxSim, alignment through updates, deletes, drift growth and compaction, persistence,
and folders written before these existed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from late_interaction import PlaidIndex
from late_interaction.plaid.config import PlaidConfig
from late_interaction.plaid.defaults import MIN_NDOCS, derived_ndocs, docs_per_probed_cell
from late_interaction.plaid.search import side_tokens
from late_interaction.plaid.side import SideStore
from retrieval import ConfigError
from retrieval.errors import IndexCorruptError
from tests.late_interaction.plaid_cases import (
    EASY,
    doc_ids,
    fast_truth,
    maxsim_truth,
    near_copies,
    recall_at_10,
    token_docs,
)

faiss = pytest.importorskip("faiss")
DIM = 32
# ~100 documents per topic on 4 shared centres and a 64-centroid codebook: each cell's list
# holds a whole topic, so centroid scores tie ~100 documents (the 10M-token situation)
TIED = {"n_topics": 10, "per_topic": 4, "lengths": (8, 16)}


@pytest.fixture(autouse=True)
def _one_faiss_thread() -> Iterator[None]:
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(previous)


def test_int8_rows_refine_decoded_tokens_within_half_a_step() -> None:
    """A row stores what the decoded token misses, scaled by its own absolute maximum
    (never clipped), whatever its magnitude relative to the first batch; rewriting rows
    (re-encoded tokens) uses the new decoded form; zero remainders stay exact."""
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(90, DIM)).astype(np.float32)
    miss = rng.normal(size=(90, DIM)).astype(np.float32) * 0.1
    miss[50:] *= np.repeat([1e-3, 1.0, 1e3, 3e4], 10)[:, None]
    miss[55] = 0.0
    decoded = tokens - miss
    side = SideStore.empty("int8", DIM)
    side.append(tokens[:50], decoded[:50])
    side.append(tokens[50:], decoded[50:])
    assert side.bytes_per_token == DIM + 2
    assert side.nbytes == 90 * (DIM + 2)
    restored = side.take(np.arange(90), decoded)
    step = np.abs(miss).max(1) / 127
    rounding = 4 * np.spacing(np.abs(tokens).max(1))  # float32 sum of decoded + remainder
    assert np.all(np.abs(restored - tokens).max(1) <= 0.5 * step * 1.01 + rounding)
    np.testing.assert_array_equal(restored[55], tokens[55])
    redecoded = tokens - 0.01  # re-encoded: a different decoded form, same tokens
    side.put(np.arange(10, 20), tokens[10:20], redecoded[10:20])
    restored = side.take(np.arange(10, 20), redecoded[10:20])
    np.testing.assert_allclose(restored, tokens[10:20], atol=0.01 / 254 * 1.01)
    with pytest.raises(ValueError, match="refines decoded tokens"):
        side.take(np.arange(3))
    with pytest.raises(ConfigError, match="too large for the int8 side store"):
        side.append(np.full((1, DIM), 1e12, np.float32), np.zeros((1, DIM), np.float32))


@pytest.mark.parametrize(("kind", "tolerance"), [("fp16", 2e-2), ("int8", 4e-2)])
def test_rescoring_scores_candidates_exactly_and_survives_compaction(
    tmp_path: Path, kind: str, tolerance: float
) -> None:
    """Hits carry brute-force MaxSim scores (up to the side store's rounding), recall is at
    least that of decompressed scores, the side store is memory-mapped after ``open`` and
    stays aligned through deletes, compaction and saving; it is not counted in
    ``bytes_per_token``."""
    docs = token_docs(1500, 25, **EASY)
    queries = near_copies(docs, 30, 0.1, 1)
    index = PlaidIndex.create(tmp_path / "idx", dim=DIM, nbits=2, rescore=kind)
    index.add(doc_ids(len(docs)), docs)
    assert index.side_bytes_per_token == (2 * DIM if kind == "fp16" else DIM + 2)
    plain = PlaidIndex.create(None, dim=DIM, nbits=2, rescore="none")
    plain.add(doc_ids(len(docs)), docs)
    assert index.bytes_per_token == plain.bytes_per_token
    truth = maxsim_truth(queries, docs)
    exact = recall_at_10(index.search_batch(queries), truth, doc_ids(len(docs)))
    assert exact >= recall_at_10(plain.search_batch(queries), truth, doc_ids(len(docs)))
    off = index.search_batch(queries, k=10, rescore=False)  # decompressed scores
    assert [[h.id for h in r] for r in off] == [
        [h.id for h in r] for r in plain.search_batch(queries)
    ]
    index.delete([f"d{i}" for i in range(0, 1500, 2)])
    index.compact()
    index.save()
    reopened = PlaidIndex.open(tmp_path / "idx")
    side = reopened._tokens.side
    assert side is not None
    assert isinstance(side.values.base, np.memmap)
    for row, hits in enumerate(reopened.search_batch(queries, k=10)):
        for hit in hits:
            assert int(hit.id[1:]) % 2 == 1
            assert hit.score == pytest.approx(truth[row, int(hit.id[1:])], abs=tolerance)
    with pytest.raises(ConfigError, match="rescore must be one of"):
        PlaidIndex.create(None, dim=DIM, rescore="fp32")


def test_int8_recall_floor_against_exact_maxsim() -> None:
    """2-bit index + int8 side store vs float64 brute force: measured 1.0 here (fp16 1.0,
    decompressed only 0.95)."""
    docs = token_docs(2000, 4, **EASY)
    queries = near_copies(docs, 30, 0.1, 0)
    truth = fast_truth(queries, docs)
    recalls = {}
    for kind in ("none", "fp16", "int8"):
        index = PlaidIndex.create(None, dim=DIM, nbits=2, rescore=kind)
        index.add(doc_ids(len(docs)), docs)
        recalls[kind] = recall_at_10(index.search_batch(queries), truth, doc_ids(len(docs)))
    assert recalls["int8"] >= 0.98
    assert recalls["int8"] >= recalls["fp16"] - 0.01
    assert recalls["int8"] > recalls["none"]


def test_side_store_stays_aligned_through_upserts_deletes_and_drift(tmp_path: Path) -> None:
    """Every live document's side-store rows are its own tokens (within int8 rounding)
    after upserts, deletes, a codebook growth that re-encodes codes, compaction, saving and
    reopening."""
    first = token_docs(400, 30, **EASY)
    shifted = [d[:, ::-1].copy() for d in token_docs(400, 31, **EASY)]  # drifts: growth
    index = PlaidIndex.create(tmp_path / "idx", dim=DIM, nbits=2, rescore="int8", grow_after=512)
    index.add(doc_ids(400), first)
    live = dict(zip(doc_ids(400), first, strict=True))
    replacements = token_docs(50, 32, **EASY)
    index.add(doc_ids(50), replacements)  # upserts
    live.update(zip(doc_ids(50), replacements, strict=True))
    for start in range(0, 400, 40):
        batch = dict(
            zip(doc_ids(400, "s")[start : start + 40], shifted[start : start + 40], strict=True)
        )
        index.add(list(batch), list(batch.values()))
        live.update(batch)
        gone = [f"d{start + 5}", f"s{start}"]
        index.delete(gone)
        for i in gone:
            live.pop(i)
    assert index._codec is not None
    assert index._codec.generations >= 2

    def check(idx: PlaidIndex) -> None:
        tokens, side, codec = idx._tokens, idx._tokens.side, idx._codec
        assert side is not None
        assert codec is not None
        assert len(side) == tokens.n_tokens
        for doc_id, doc in live.items():
            rows = tokens.rows_of(idx._store.labels_of([doc_id]))
            stored = side_tokens(tokens, codec, tokens.token_index(rows)[0])
            np.testing.assert_allclose(stored, doc, atol=2e-3)  # half an int8 step
        queries = near_copies(list(live.values()), 10, 0.1, 3)
        truth = fast_truth(queries, list(live.values()))
        ids = list(live)
        for row, hits in enumerate(idx.search_batch(queries, k=10)):
            for hit in hits:
                assert hit.score == pytest.approx(truth[row, ids.index(hit.id)], abs=4e-2)

    check(index)
    index.compact()
    check(index)
    index.save()
    check(PlaidIndex.open(tmp_path / "idx"))


def test_docs_per_probed_cell_is_the_pair_weighted_mean_list_length() -> None:
    sizes = np.array([0, 3, 10, 1, 40])
    expected = np.average(sizes, weights=sizes)  # a probe lands in a list in proportion to it
    assert docs_per_probed_cell(sizes) == pytest.approx(expected)
    assert docs_per_probed_cell(np.zeros(4)) == 0.0
    assert derived_ndocs(0.0, 10) == MIN_NDOCS
    assert derived_ndocs(300.2, 10) == 4 * 301
    assert derived_ndocs(10.0, 100) == 400  # at least k scored exactly


def test_unindexed_tail_counts_like_the_inverted_lists() -> None:
    docs = token_docs(900, 33, **TIED)
    index = PlaidIndex.create(None, dim=DIM, nbits=2, n_centroids=64)
    index.add(doc_ids(900), docs)
    tokens = index._tokens
    assert tokens.n_indexed == 0  # a small index: every token is in the scanned tail
    from_tail = tokens.docs_per_cell()
    tokens.rebuild_lists()
    assert tokens.docs_per_cell() == pytest.approx(from_tail)
    assert from_tail == pytest.approx(docs_per_probed_cell(np.diff(tokens.ivf_ptr)))


def test_derived_ndocs_keeps_recall_where_a_fixed_depth_loses_it() -> None:
    """Many documents per cell (centroid scores tie a whole topic): the old fixed
    ``ndocs=256`` (64 scored exactly) loses most of the top 10, the derived depth matches
    exhaustive search over the same side store (measured 0.98, exhaustive 0.98, fixed
    0.47); the depth grows with the corpus and an explicit ``ndocs`` still overrides it."""
    docs = token_docs(2000, 5, **TIED)
    queries = near_copies(docs, 30, 0.1, 0)
    truth = fast_truth(queries, docs)
    small = PlaidIndex.create(None, dim=DIM, nbits=2, rescore="int8", n_centroids=64)
    small.add(doc_ids(500), docs[:500])
    index = PlaidIndex.create(None, dim=DIM, nbits=2, rescore="int8", n_centroids=64)
    index.add(doc_ids(2000), docs)
    derived = index.search_defaults(k=10).ndocs
    assert derived is not None
    assert derived > small.search_defaults(k=10).ndocs > MIN_NDOCS - 1
    assert derived > 2 * MIN_NDOCS
    ids = doc_ids(2000)
    auto = recall_at_10(index.search_batch(queries), truth, ids)
    fixed = recall_at_10(index.search_batch(queries, ndocs=256), truth, ids)
    exhaustive = recall_at_10(index.search_batch(queries, ndocs=10**6), truth, ids)
    assert auto >= 0.9
    assert auto >= exhaustive - 0.02
    assert fixed <= auto - 0.3


def test_folders_from_before_derived_defaults_and_int8_open_unchanged(tmp_path: Path) -> None:
    """A folder written before ``ndocs`` was derived stored the then-default 256: it opens
    with the derived depth and the same results; a newer folder keeps an explicit 256."""
    docs = token_docs(600, 34, **EASY)
    index = PlaidIndex.create(tmp_path / "old", dim=DIM, nbits=2, rescore="fp16", ndocs=256)
    index.add(doc_ids(600), docs)
    index.save()
    queries = near_copies(docs, 5, 0.1, 2)
    before = [[(h.id, h.score) for h in r] for r in index.search_batch(queries)]
    assert PlaidIndex.open(tmp_path / "old").config.ndocs == 256  # explicit: kept
    manifest_path = tmp_path / "old" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for key in ("config_version", "side_unit"):  # what an old PlaidIndex wrote
        manifest["state"].pop(key)
    manifest_path.write_text(json.dumps(manifest))
    old = PlaidIndex.open(tmp_path / "old")
    assert old.config.ndocs is None
    assert old.search_defaults().ndocs == MIN_NDOCS
    assert [[(h.id, h.score) for h in r] for r in old.search_batch(queries)] == before


def test_a_side_store_file_of_the_wrong_length_is_reported(tmp_path: Path) -> None:
    docs = token_docs(50, 35)
    index = PlaidIndex.create(tmp_path / "idx", dim=DIM, nbits=2, rescore="int8")
    index.add(doc_ids(50), docs)
    index.save()
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    scale_file = tmp_path / "idx" / manifest["files"]["full_scale"]["path"]
    np.save(scale_file, np.zeros(3, np.float16))  # as if a writer had lost rows
    manifest["files"]["full_scale"]["bytes"] = scale_file.stat().st_size
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="holds 3 tokens"):
        PlaidIndex.open(tmp_path / "idx", verify=False)


def test_int8_is_the_default_and_folders_from_before_side_stores_keep_none() -> None:
    """New indexes re-score with the int8 side store unless told otherwise; a manifest
    written before side stores existed (no ``rescore`` key) still means none."""
    assert PlaidIndex.create(None, dim=DIM).config.rescore == "int8"
    saved = PlaidIndex.create(None, dim=DIM, rescore="none").config.to_json()
    del saved["rescore"]
    assert PlaidConfig.from_json(saved, version=1).rescore == "none"
    assert PlaidConfig.from_json({**saved, "rescore": "fp16"}).rescore == "fp16"


def test_int8_side_store_takes_ordinary_tokens_after_an_exactly_fitted_first_batch() -> None:
    """A first add the codebook fits almost exactly (two tokens, one centroid each: their
    remainders are ~0) must not set a scale that refuses the ordinary tokens after it."""
    docs = token_docs(400, 31, **EASY)
    index = PlaidIndex.create(None, dim=DIM, nbits=2, rescore="int8")
    index.add(["tiny"], [docs[0][:2]])
    index.add(doc_ids(len(docs)), docs)
    queries = near_copies(docs, 10, 0.1, 2)
    truth = maxsim_truth(queries, docs)
    for row, hits in enumerate(index.search_batch(queries, k=5)):
        for hit in hits:
            if hit.id != "tiny":
                assert hit.score == pytest.approx(truth[row, int(hit.id[1:])], abs=4e-2)
