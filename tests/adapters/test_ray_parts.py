"""Multi-part shards (``adapters.ray.parts``) without Ray: the actor class run in process on
numpy batches, as Ray Data would call it, including a retried batch and a dead attempt's
leftovers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.ray.encoder import EncodeFn
from adapters.ray.parts import EncodedParts, PartsWriter, commit_parts
from retrieval import ConfigError, IndexCorruptError, MultiVectorEmbeddings


@dataclass(frozen=True)
class TwoParts:
    """Dense (length, words) and one token vector per word, from the text alone."""

    def load(self) -> EncodeFn:
        def run(texts: list[str]) -> EncodedParts:
            dense = np.array([[len(t), len(t.split())] for t in texts], np.float32)
            tokens = [np.ones((len(t.split()), 2), np.float32) for t in texts]
            parts = {"dense": dense, "tokens": MultiVectorEmbeddings.from_list(tokens)}
            return EncodedParts(parts, n_tokens=sum(len(t.split()) for t in texts))

        return run  # type: ignore[return-value]


def batch(first: int, n: int) -> dict[str, Any]:
    rows = range(first, first + n)
    return {
        "row": np.array(list(rows)),
        "id": np.array([f"c{i}" for i in rows]),
        "text": np.array([" ".join(["w"] * (i + 1)) for i in rows]),
    }


def rows_of(result: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(result, values, strict=True)) for values in zip(*result.values(), strict=True)]


def test_parts_commit_once_despite_a_retried_batch_and_leftovers(tmp_path: Path) -> None:
    writer = PartsWriter(TwoParts(), str(tmp_path))
    first = rows_of(writer(batch(0, 3)))
    retried = rows_of(writer(batch(0, 3)))  # a retry rewrites the same shards
    assert [r["name"] for r in retried] == [r["name"] for r in first]
    second = rows_of(writer(batch(3, 2)))
    writer(batch(2, 2))  # an attempt whose batching never finished: its shards are swept
    parts = commit_parts(tmp_path, first + second, model="m")
    assert sorted(parts.sets) == ["dense", "tokens"]
    assert len(parts.shard_names) == 2
    for part, shard_set in parts.sets.items():
        assert shard_set.ids() == ["c0", "c1", "c2", "c3", "c4"], part
        on_disk = sorted(p.name for p in (tmp_path / part).iterdir() if p.suffix != ".json")
        assert on_disk == shard_set.shard_names
    assert parts.tokens == {parts.shard_names[0]: 1 + 2 + 3, parts.shard_names[1]: 4 + 5}
    shard = parts.sets["tokens"].read(parts.shard_names[1])
    assert [len(t) for t in shard.embeddings] == [4, 5]  # type: ignore[union-attr]


def test_parts_that_disagree_are_refused(tmp_path: Path) -> None:
    writer = PartsWriter(TwoParts(), str(tmp_path))
    rows = rows_of(writer(batch(0, 2))) + rows_of(writer(batch(2, 2)))
    dense_only_second = [
        r
        for r in rows
        if not (r["part"] == "tokens" and r["name"].startswith("shard-000000000002-"))
    ]
    with pytest.raises(IndexCorruptError, match="hold different batches"):
        commit_parts(tmp_path, dense_only_second, model=None)
    with pytest.raises(ConfigError, match="empty"):
        commit_parts(tmp_path / "none", [], model=None)


@dataclass(frozen=True)
class NotParts:
    def load(self) -> EncodeFn:
        return lambda texts: np.zeros((len(texts), 2), np.float32)


def test_a_single_output_encoder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not EncodedParts"):
        PartsWriter(NotParts(), str(tmp_path))(batch(0, 1))
