"""Embedding shards without Ray: format round trip, idempotent names, commit and sweep,
corruption, the in-process encode path and streaming index builds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from adapters.ray import (
    LLMEncoder,
    ShardSet,
    build_index,
    commit_manifest,
    encode_corpus,
    write_shard,
)
from adapters.ray.encoder import EncodeFn
from indexes import ExactIndex, FaissIndex, SparseIndex
from retrieval import (
    ConfigError,
    IndexCorruptError,
    IndexFormatError,
    MultiVectorEmbeddings,
    SparseEmbeddings,
)

DIM = 12


def vector_of(text: str, dim: int = DIM) -> np.ndarray:
    """A deterministic unit vector per text (a stand-in model)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    row = np.random.default_rng(seed).normal(size=dim)
    return (row / np.linalg.norm(row)).astype(np.float32)


@dataclass(frozen=True)
class HashEncoder:
    """EncoderSpec double: dense, sparse or multi-vector outputs derived from the text."""

    representation: str = "dense"

    def load(self) -> EncodeFn:
        def encode(texts: list[str]):  # type: ignore[no-untyped-def]
            if self.representation == "dense":
                return np.stack([vector_of(t) for t in texts])
            if self.representation == "sparse":
                items = [(np.abs(vector_of(t) * 100).astype(int), np.ones(DIM)) for t in texts]
                return SparseEmbeddings.from_items(items, vocab_size=128)
            return MultiVectorEmbeddings.from_list(
                [np.stack([vector_of(w, 8) for w in t.split()]) for t in texts]
            )

        return encode


def docs(n: int) -> list[dict[str, object]]:
    return [
        {"id": f"d{i}", "text": f"alpha beta {i} gamma", "metadata": {"n": i, "odd": i % 2 == 1}}
        for i in range(n)
    ]


@pytest.mark.parametrize("representation", ["dense", "sparse", "multivector"])
def test_round_trip_of_each_representation(tmp_path: Path, representation: str) -> None:
    encode = HashEncoder(representation).load()
    texts = ["a b c", "d e", "f"]
    batch = encode(texts)
    record = write_shard(tmp_path, ["x", "y", "z"], batch, [{"k": 1}, None, {"k": 3}])
    commit_manifest(tmp_path, [record], model="hash")
    opened = ShardSet.open(tmp_path)
    assert opened.representation == representation
    assert len(opened) == 3
    (shard,) = list(opened)
    assert shard.ids == ["x", "y", "z"]
    assert shard.metadata == [{"k": 1}, None, {"k": 3}]
    if representation == "dense":
        np.testing.assert_array_equal(shard.embeddings, batch)
    elif representation == "sparse":
        for got, want in zip(shard.embeddings, batch, strict=True):  # type: ignore[call-overload]
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
    else:
        assert torch.equal(shard.embeddings.vectors, batch.vectors)  # type: ignore[union-attr]
        assert torch.equal(shard.embeddings.offsets, batch.offsets)  # type: ignore[union-attr]


def test_rewriting_a_batch_reuses_its_name_and_commit_sweeps_leftovers(tmp_path: Path) -> None:
    batch = np.stack([vector_of("a"), vector_of("b")])
    first = write_shard(tmp_path, ["a", "b"], batch, first_row=0)
    again = write_shard(tmp_path, ["a", "b"], batch, first_row=0)  # a retried task
    assert first == again
    stray = write_shard(tmp_path, ["a"], batch[:1], first_row=0)  # an abandoned attempt
    (tmp_path / ".tmp-crashed-write.safetensors").write_bytes(b"partial")
    assert len(list(tmp_path.iterdir())) == 3
    other = write_shard(tmp_path, ["c"], batch[:1], first_row=2)
    commit_manifest(tmp_path, [first, other])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["manifest.json", first.name, other.name])
    assert stray.name not in names
    assert ShardSet.open(tmp_path).ids() == ["a", "b", "c"]  # corpus order from first_row


def test_commit_refuses_inconsistent_records(tmp_path: Path) -> None:
    dense = write_shard(tmp_path, ["a"], np.ones((1, 4), np.float32))
    wider = write_shard(tmp_path, ["b"], np.ones((1, 5), np.float32))
    with pytest.raises(ConfigError, match="mix"):
        commit_manifest(tmp_path, [dense, wider])
    with pytest.raises(IndexCorruptError, match="twice"):
        commit_manifest(tmp_path, [dense, dense])
    with pytest.raises(ConfigError, match="empty"):
        commit_manifest(tmp_path, [])


def test_damaged_shards_are_detected(tmp_path: Path) -> None:
    shards = encode_corpus(docs(10), tmp_path / "s", encoder=HashEncoder(), batch_size=4)
    victim = shards.path / shards.shard_names[1]
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="SHA-256"):
        ShardSet.open(shards.path)
    victim.unlink()
    with pytest.raises(IndexCorruptError, match="missing"):
        ShardSet.open(shards.path)
    manifest = json.loads((shards.path / "manifest.json").read_text())
    manifest["kind"] = "faiss"
    (shards.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="faiss"):
        ShardSet.open(shards.path)


def test_local_encode_then_streaming_builds(tmp_path: Path) -> None:
    corpus = docs(23)
    shards = encode_corpus(corpus, tmp_path / "dense", encoder=HashEncoder(), batch_size=5)
    assert len(shards.shard_names) == 5
    assert shards.ids() == [f"d{i}" for i in range(23)]
    progress: list[tuple[int, int]] = []
    build_index(
        shards,
        FaissIndex.create(tmp_path / "faiss", dim=DIM, kind="flat"),
        on_shard=lambda done, total: progress.append((done, total)),
    )
    assert progress[-1] == (5, 5)
    reopened = FaissIndex.open(tmp_path / "faiss")  # build_index saved it
    assert len(reopened) == 23
    hit = reopened.search(vector_of("alpha beta 7 gamma"), k=1, filter={"odd": True})[0]
    assert hit.id == "d7"
    assert hit.metadata == {"n": 7, "odd": True}
    exact = build_index(tmp_path / "dense", ExactIndex.create(dim=DIM))
    assert exact.search(vector_of("alpha beta 12 gamma"), k=1)[0].id == "d12"

    sparse_shards = encode_corpus(
        corpus, tmp_path / "sparse", encoder=HashEncoder("sparse"), batch_size=7
    )
    assert sparse_shards.dim == 128
    sparse = build_index(sparse_shards, SparseIndex.create(vocab_size=128))
    assert len(sparse) == 23


def test_multivector_shards_feed_a_qdrant_index(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client")
    from adapters.qdrant import QdrantIndex

    shards = encode_corpus(
        docs(9), tmp_path / "mv", encoder=HashEncoder("multivector"), batch_size=4
    )
    index = build_index(shards, QdrantIndex.create(kind="multivector", dim=8, metric="ip"))
    assert len(index) == 9
    query = np.stack([vector_of(w, 8) for w in "alpha beta 4 gamma".split()])
    hit = index.search(query, k=1)[0]
    assert hit.id == "d4"
    assert hit.score == pytest.approx(4.0, abs=1e-5)  # every query token matches itself


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    enc = HashEncoder()
    with pytest.raises(ConfigError, match="appears twice"):
        encode_corpus([*docs(2), {"id": "d0", "text": "x"}], tmp_path / "a", encoder=enc)
    with pytest.raises(ConfigError, match="empty"):
        encode_corpus([], tmp_path / "b", encoder=enc)
    with pytest.raises(ConfigError, match="give dicts"):
        encode_corpus(["just text"], tmp_path / "c", encoder=enc)  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="batch_size"):
        encode_corpus(docs(2), tmp_path / "d", encoder=enc, batch_size=0)
    encode_corpus(docs(2), tmp_path / "e", encoder=enc)
    with pytest.raises(ConfigError, match="already holds"):
        encode_corpus(docs(2), tmp_path / "e", encoder=enc)
    assert len(encode_corpus(docs(3), tmp_path / "e", encoder=enc, overwrite=True)) == 3
    with pytest.raises(ConfigError, match="Unknown representation"):
        LLMEncoder("m", "colbert")


def test_multivector_shards_feed_a_plaid_index(tmp_path: Path) -> None:
    from late_interaction import PlaidIndex

    # Every document has its own words, so the right one wins by a wide margin even with
    # PLAID's compressed residuals.
    corpus = [
        {"id": f"d{i}", "text": f"w{i}a w{i}b w{i}c", "metadata": {"odd": i % 2 == 1}}
        for i in range(30)
    ]
    shards = encode_corpus(
        corpus, tmp_path / "mv", encoder=HashEncoder("multivector"), batch_size=8
    )
    index = build_index(shards, PlaidIndex.create(tmp_path / "plaid", dim=8, nbits=4))
    assert len(PlaidIndex.open(tmp_path / "plaid")) == 30  # built shard by shard, then saved
    query = np.stack([vector_of(w, 8) for w in "w17a w17b w17c".split()])
    hits = index.search(query, k=3, filter={"odd": True})
    assert hits[0].id == "d17"
    assert hits[0].metadata == {"odd": True}
    assert all(h.metadata == {"odd": True} for h in hits)
