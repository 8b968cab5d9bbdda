"""The default hybrid beats its best part (issue 19), on a real dev set with the real model.

Cranfield (1,400 abstracts, 225 queries) indexed once by a default hybrid collection of the
embedded all-MiniLM-L6-v2; each of its parts searched alone - dense (FAISS), BM25 and exact
MaxSim over the whole collection - against the hybrid that fuses them. Metrics by
pytrec-eval. Skips without ``../shared/data``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.collection import Collection, PipelineConfig
from adapters.evaluation import evaluate_run, load_beir
from tests.conftest import SHARED_DATA

CRANFIELD = SHARED_DATA / "cranfield"
pytestmark = pytest.mark.skipif(
    not (CRANFIELD / "corpus.jsonl").is_file(),
    reason="needs ../shared/data/cranfield (the dev set; absent from published copies)",
)


def _alone(part: Any, queries: Any) -> list[list[Any]]:
    return [part.index.search(query, k=100) for query in queries]


def test_default_hybrid_beats_every_part_alone(real_default_path: Path) -> None:
    ds = load_beir(CRANFIELD)
    collection = Collection(PipelineConfig(pipeline="hybrid", model=str(real_default_path)))
    collection.add(ds.doc_ids, ds.doc_texts)
    parts = {p.stage: p for p in collection.parts}
    assert set(parts) == {"dense", "bm25", "maxsim"}
    encoded = collection.encoder.encode_queries(ds.query_texts)
    runs = {
        "dense": _alone(parts["dense"], encoded["dense"]),
        "bm25": _alone(parts["bm25"], ds.query_texts),
        "maxsim": _alone(parts["maxsim"], encoded["multivector"]),
        "hybrid": collection.retriever.search_batch(ds.query_texts, k=100),
    }
    metrics = {
        name: evaluate_run(ds.qrels, dict(zip(ds.query_ids, found, strict=True)))
        for name, found in runs.items()
    }
    hybrid = metrics.pop("hybrid")
    best = max(m["ndcg@10"] for m in metrics.values())
    assert hybrid["ndcg@10"] >= best + 0.005, (hybrid, metrics)
    assert hybrid["recall@100"] >= max(m["recall@100"] for m in metrics.values()), (
        hybrid,
        metrics,
    )
