"""FaissIndex on a GPU: skipped (never failed) where faiss has no GPU."""

from __future__ import annotations

import numpy as np
import pytest

from indexes import FaissIndex
from tests.indexes.cases import clustered

faiss = pytest.importorskip("faiss")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0,
        reason="the installed faiss sees no GPU",
    ),
]


@pytest.mark.parametrize("kind", ["flat", "ivf", "ivfpq"])
def test_auto_device_uses_the_gpu_and_matches_the_cpu(kind: str) -> None:
    docs, queries = clustered(20_000, 64, 0), clustered(20, 64, 1)
    ids = [str(i) for i in range(len(docs))]
    gpu = FaissIndex.create(dim=64, kind=kind, device="auto", nlist=64, nprobe=64)
    cpu = FaissIndex.create(dim=64, kind=kind, device="cpu", nlist=64, nprobe=64)
    for index in (gpu, cpu):
        index.add(ids, docs)
    assert gpu.device == "cuda:0"
    assert cpu.device == "cpu"
    on_gpu, on_cpu = gpu.search_batch(queries, k=10), cpu.search_batch(queries, k=10)
    overlap = np.mean(
        [
            len({h.id for h in a} & {h.id for h in b}) / 10
            for a, b in zip(on_gpu, on_cpu, strict=True)
        ]
    )
    assert overlap >= 0.9
    # filtered searches run on the CPU copy (faiss GPU indexes take no id selectors)
    filtered = gpu.search(queries[0], k=5, filter={"missing": 1})
    assert filtered == []
