"""Ray Data encode on a local two-CPU cluster: equals the single-process encode, and a worker
killed mid-task is retried without duplicating shards."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from adapters.ray import LLMEncoder, ShardSet, build_index, encode_corpus_with_ray
from adapters.ray.encoder import EncodeFn
from retrieval import ConfigError

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
N = 32
TOPICS = ["wing", "flow", "shock", "heat", "boundary", "layer", "panel", "jet"]


def corpus(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"doc-{i:03d}",
            "text": f"{TOPICS[i % 8]} {TOPICS[(i * 3) % 8]} measurement number {i}",
            "metadata": {"year": 1950 + i % 20, "topic": TOPICS[i % 8]},
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def ray_cluster(ray_local_cluster: None) -> None:
    """The shared local Ray cluster (tests/adapters/conftest.py)."""
    import ray.cloudpickle

    # The crash double below lives in this test module; ship it by value to the workers.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    """Single-process encode with the public ``LLM.embed`` (not the adapter's code)."""
    from encoders import LLM

    docs = corpus(N)
    outputs = LLM(MODEL).embed([d["text"] for d in docs], use_tqdm=False)
    return {
        str(d["id"]): np.asarray(o.outputs.embedding, np.float32)
        for d, o in zip(docs, outputs, strict=True)
    }


def check_equal(shards: ShardSet, reference: dict[str, np.ndarray]) -> None:
    ids = shards.ids()
    assert len(ids) == len(set(ids)) == len(reference) == len(shards)
    assert set(ids) == set(reference)
    for shard in shards:
        for doc_id, vector, meta in zip(shard.ids, shard.embeddings, shard.metadata, strict=True):
            np.testing.assert_allclose(vector, reference[doc_id], atol=2e-5)
            assert meta == corpus(N)[int(doc_id[4:])]["metadata"]


@dataclass(frozen=True)
class CrashOnceEncoder:
    """Wraps the real encoder; the worker process dies (``os._exit``) on its second batch,
    once per marker file - after its first batch's shard is already on disk."""

    inner: LLMEncoder
    marker: str

    @property
    def model(self) -> str:
        return self.inner.model

    def load(self) -> EncodeFn:
        encode = self.inner.load()
        calls = [0]

        def run(texts: list[str]):  # type: ignore[no-untyped-def]
            calls[0] += 1
            if calls[0] == 2 and not os.path.exists(self.marker):
                Path(self.marker).write_text(json.dumps(texts))
                os._exit(1)
            return encode(texts)

        return run


def test_ray_encode_equals_single_process_despite_a_killed_worker(
    ray_cluster: None, reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    marker = tmp_path / "crashed.json"
    spec = CrashOnceEncoder(LLMEncoder(MODEL), str(marker))
    out = tmp_path / "shards"
    # Two blocks of 16 rows, batches of 8: a task writes the shard of its first batch, then
    # its worker dies on the second; Ray restarts the actor and retries the whole task, which
    # rewrites that first shard under the same name.
    shards = encode_corpus_with_ray(
        corpus(N), out, encoder=spec, batch_size=8, num_actors=2, num_blocks=2
    )
    assert marker.exists(), "the injected failure never happened"
    assert shards.representation == "dense"
    assert shards.dim == 384
    assert shards.model == MODEL
    check_equal(shards, reference)
    assert len(shards.shard_names) == N // 8
    assert shards.ids() == sorted(reference)  # shards listed in corpus order
    on_disk = sorted(p.name for p in out.iterdir() if p.name != "manifest.json")
    assert on_disk == shards.shard_names  # no stray or duplicate shard files

    from indexes import ExactIndex

    index = build_index(shards, ExactIndex.create(dim=384))
    assert len(index) == N
    query = reference["doc-007"]
    assert index.search(query, k=1)[0].id == "doc-007"
    assert index.search(query, k=3, filter={"topic": "jet"})[0].metadata["topic"] == "jet"


@dataclass(frozen=True)
class LengthEncoder:
    """A cheap stand-in model: the vector of a text is (len, words, 1) normalised."""

    def load(self) -> EncodeFn:
        def run(texts: list[str]):  # type: ignore[no-untyped-def]
            rows = np.array([[len(t), len(t.split()), 1.0] for t in texts], np.float32)
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

        return run


def test_ray_dataset_input(ray_cluster: None, tmp_path: Path) -> None:
    """A ray.data.Dataset (as from read_parquet / read_json on a cluster) is encoded as is;
    metadata may be dict or JSON-string values."""
    rows = [
        {"id": f"r{i}", "text": "word " * (i + 1), "metadata": json.dumps({"i": i})}
        for i in range(12)
    ]
    dataset = ray.data.from_items(rows, override_num_blocks=3)
    shards = encode_corpus_with_ray(
        dataset, tmp_path / "shards", encoder=LengthEncoder(), batch_size=4, num_actors=2
    )
    assert sorted(shards.ids()) == sorted(r["id"] for r in rows)
    for shard in shards:
        for doc_id, vector, meta in zip(shard.ids, shard.embeddings, shard.metadata, strict=True):
            i = int(doc_id[1:])
            assert meta == {"i": i}
            want = np.array([5 * (i + 1), i + 1, 1.0])
            np.testing.assert_allclose(vector, want / np.linalg.norm(want), rtol=1e-6)
    with pytest.raises(ConfigError, match="lacks column"):
        encode_corpus_with_ray(
            ray.data.from_items([{"id": "x", "body": "y"}]),
            tmp_path / "bad",
            encoder=LengthEncoder(),
        )
