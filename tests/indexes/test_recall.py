"""Recall@10 floors of each ANN kind against exact search, on clustered synthetic data.

Floors sit well below the values measured when they were set (noted per kind), so they catch
a broken index or a wrong default rather than noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from indexes import ExactIndex, FaissIndex
from tests.indexes.cases import manifold

N, DIM, K = 10_000, 64, 10
FLOORS = {  # measured (defaults, this data): ivf 1.00, hnsw 1.00, ivfpq 0.65, sq8 0.985
    "ivf": 0.9,
    "hnsw": 0.9,
    "ivfpq": 0.5,
    "sq8": 0.95,
}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    docs, queries = manifold(N, DIM, 0), manifold(100, DIM, 1)
    metadata = [{"bucket": i % 10} for i in range(N)]
    exact = ExactIndex.create(dim=DIM)
    exact.add([str(i) for i in range(N)], docs, metadata)
    return {
        "docs": docs,
        "queries": queries,
        "metadata": metadata,
        "truth": exact.search_batch(queries, k=K),
        "truth_filtered": exact.search_batch(queries, k=K, filter={"bucket": {"$lt": 3}}),
    }


def _recall(results: list[Any], truth: list[Any]) -> float:
    return float(
        np.mean(
            [
                len({h.id for h in r} & {h.id for h in t}) / K
                for r, t in zip(results, truth, strict=True)
            ]
        )
    )


@pytest.mark.parametrize("kind", list(FLOORS))
def test_recall_floor_with_and_without_filter(kind: str, data: dict[str, Any]) -> None:
    index = FaissIndex.create(dim=DIM, kind=kind)
    index.add([str(i) for i in range(N)], data["docs"], data["metadata"])
    assert index.is_trained
    assert _recall(index.search_batch(data["queries"], k=K), data["truth"]) >= FLOORS[kind]
    filtered = index.search_batch(data["queries"], k=K, filter={"bucket": {"$lt": 3}})
    assert all(len(r) == K and all(h.metadata["bucket"] < 3 for h in r) for r in filtered)
    assert _recall(filtered, data["truth_filtered"]) >= FLOORS[kind]
