"""FaissIndex specifics: training fallback, HNSW tombstones, metrics, knobs, devices, errors."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from indexes import ExactIndex, FaissConfig, FaissIndex
from indexes import faiss_index as faiss_index_module
from indexes.faiss_device import resolve_gpu
from retrieval import ConfigError, DeviceUnavailableError, MissingDependencyError
from tests.indexes.cases import clustered, dense_truth

DIM = 16


def _ids(n: int, prefix: str = "d") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_trained_kinds_serve_exact_search_until_they_can_train(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = clustered(400, DIM, 0)
    index = FaissIndex.create(tmp_path / "ivf", dim=DIM, kind="ivf", nlist=8, nprobe=1)
    assert FaissConfig(dim=DIM, kind="ivf", nlist=8).min_train() == 8 * 39
    with caplog.at_level(logging.WARNING, logger="indexes.faiss_index"):
        index.add(_ids(100), docs[:100])
    assert "needs 312 vectors to train" in caplog.text
    assert not index.is_trained
    exact = ExactIndex.create(dim=DIM)
    exact.add(_ids(100), docs[:100])
    queries = clustered(5, DIM, 1)
    assert [[h.id for h in r] for r in index.search_batch(queries, k=5)] == [
        [h.id for h in r] for r in exact.search_batch(queries, k=5)
    ]
    index.save()
    reopened = FaissIndex.open(tmp_path / "ivf")
    assert not reopened.is_trained
    reopened.add(_ids(300, "e"), docs[100:])
    assert reopened.is_trained
    assert len(reopened) == 400
    reopened.save()
    again = FaissIndex.open(tmp_path / "ivf")
    assert again.is_trained
    assert len(again) == 400
    assert again.search(docs[150], k=1)[0].id == "e50"


def test_hnsw_deletes_are_tombstones_until_a_rebuild(tmp_path: Path) -> None:
    docs = clustered(300, DIM, 2)
    index = FaissIndex.create(tmp_path / "h", dim=DIM, kind="hnsw", hnsw_m=8)
    index.add(_ids(300), docs)
    index.delete(_ids(100))
    assert len(index._tombstones) == 100
    assert index._index.ntotal == 300
    hits = index.search_batch(docs[:20], k=10)
    assert all(len(r) == 10 and all(int(h.id[1:]) >= 100 for h in r) for r in hits)
    index.save()
    assert len(FaissIndex.open(tmp_path / "h")._tombstones) == 100
    index.delete([f"d{i}" for i in range(100, 190)])  # 190 tombstones: more than half
    assert len(index._tombstones) == 0
    assert index._index.ntotal == len(index) == 110
    assert all(int(h.id[1:]) >= 190 for h in index.search(docs[0], k=110))


def test_selective_filters_still_return_k_results(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = clustered(2000, DIM, 3)
    metadata = [{"pick": i % 150 == 0} for i in range(2000)]  # 14 items, spread out
    picked = {f"d{i}" for i in range(0, 2000, 150)}
    ivf = FaissIndex.create(dim=DIM, kind="ivf", nlist=32, nprobe=1)
    ivf.add(_ids(2000), docs, metadata)
    for hits in ivf.search_batch(clustered(10, DIM, 4), k=10, filter={"pick": True}):
        assert len(hits) == 10
        assert {h.id for h in hits} <= picked
    monkeypatch.setattr(faiss_index_module, "HNSW_EXACT_BELOW", 0)  # force the graph walk
    hnsw = FaissIndex.create(dim=DIM, kind="hnsw", hnsw_m=4, ef_search=4)
    hnsw.add(_ids(2000), docs, metadata)
    for hits in hnsw.search_batch(clustered(10, DIM, 4), k=10, filter={"pick": True}):
        assert len(hits) == 10
        assert {h.id for h in hits} <= picked


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_scores_follow_the_metric_convention(metric: str, kind: str) -> None:
    docs, queries = clustered(200, DIM, 5), clustered(3, DIM, 6)
    index = FaissIndex.create(dim=DIM, kind=kind, metric=metric)
    index.add(_ids(200), docs)
    exact = ExactIndex.create(dim=DIM, metric=metric)
    exact.add(_ids(200), docs)
    truth = dense_truth(queries, docs, metric)
    for row, (hits, reference) in enumerate(
        zip(index.search_batch(queries, k=5), exact.search_batch(queries, k=5), strict=True)
    ):
        want = np.sort(truth[row])[::-1][:5]
        np.testing.assert_allclose([h.score for h in hits], want, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose([h.score for h in reference], want, rtol=1e-4, atol=1e-3)


def test_search_knobs_trade_speed_for_recall() -> None:
    docs = clustered(3000, DIM, 7)
    index = FaissIndex.create(dim=DIM, kind="ivf", nlist=64, nprobe=1)
    index.add(_ids(3000), docs)
    queries = clustered(30, DIM, 8)
    truth = dense_truth(queries, docs)
    top = [{f"d{i}" for i in np.argsort(-row)[:10]} for row in truth]
    full = index.search_batch(queries, k=10, nprobe=64)
    assert all({h.id for h in r} == t for r, t in zip(full, top, strict=True))
    with pytest.raises(ConfigError, match="nprobe must be a positive integer; got 0"):
        index.search(queries[0], nprobe=0)


def test_configuration_errors_list_valid_values() -> None:
    with pytest.raises(
        ConfigError, match="Unknown FAISS kind 'annoy'. Valid: flat, ivf, hnsw, ivfpq, sq8"
    ):
        FaissIndex.create(dim=8, kind="annoy")
    with pytest.raises(ConfigError, match="Unknown metric 'dot'. Valid: cosine, ip, l2"):
        FaissIndex.create(dim=8, metric="dot")
    with pytest.raises(ConfigError, match="Unknown FaissIndex option.*nprobes.*Valid: dim, kind"):
        FaissIndex.create(dim=8, nprobes=3)
    with pytest.raises(ConfigError, match="pq_m=5 must divide dim=384; try pq_m=48"):
        FaissIndex.create(dim=384, kind="ivfpq", pq_m=5)
    with pytest.raises(ConfigError, match="dim must be a positive integer"):
        FaissIndex.create(dim=0)
    index = FaissIndex.create(dim=8)
    with pytest.raises(ConfigError, match="dimension 4 but the index was created with dim=8"):
        index.add(["a"], np.ones((1, 4)))


def test_training_sizes() -> None:
    config = FaissConfig(dim=384, kind="ivfpq")
    assert config.min_train() == 39 * 256
    assert config.resolved_pq_m == 48
    assert FaissConfig(dim=384, kind="ivf").nlist_for(1_000_000) == 1024
    assert FaissConfig(dim=384, kind="ivf").nlist_for(700) == 16
    assert FaissConfig(dim=384, kind="ivf", nlist=100).nlist_for(10**6) == 100
    assert FaissConfig(kind="hnsw").min_train() == 0


def test_device_resolution_follows_faiss_gpu_support() -> None:
    no_gpu = SimpleNamespace(get_num_gpus=lambda: 0)
    two_gpus = SimpleNamespace(get_num_gpus=lambda: 2)
    assert resolve_gpu(no_gpu, "auto", "flat") is None
    assert resolve_gpu(two_gpus, "auto", "ivf") == 0
    assert resolve_gpu(two_gpus, "auto", "hnsw") is None  # no GPU HNSW: stay on the CPU
    assert resolve_gpu(two_gpus, "cpu", "flat") is None
    assert resolve_gpu(two_gpus, "cuda:1", "flat") == 1
    with pytest.raises(DeviceUnavailableError, match="faiss sees no GPU.*faiss-gpu"):
        resolve_gpu(no_gpu, "cuda", "flat")
    with pytest.raises(DeviceUnavailableError, match="faiss sees 2 GPU"):
        resolve_gpu(two_gpus, "cuda:2", "flat")
    with pytest.raises(ConfigError, match="kind 'hnsw' has no GPU implementation"):
        resolve_gpu(two_gpus, "cuda", "hnsw")
    with pytest.raises(ConfigError, match="Unknown device 'tpu'"):
        resolve_gpu(two_gpus, "tpu", "flat")


def test_device_cpu_is_used_without_a_faiss_gpu() -> None:
    import faiss

    if faiss.get_num_gpus():
        pytest.skip("this machine has a faiss GPU")
    assert FaissIndex.create(dim=8, kind="flat").device == "cpu"
    with pytest.raises(DeviceUnavailableError):
        FaissIndex.create(dim=8, kind="flat", device="cuda")


def test_missing_faiss_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "retrieval-toolkit\[faiss\]"'):
        FaissIndex.create(dim=8)
