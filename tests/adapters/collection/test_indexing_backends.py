"""The encoder seam of the indexer: an encoder that works in windows of several committed
batches and returns pieces that straddle batch boundaries (as Ray shards do) gives the same
index as the plain run. No Ray here: the seam itself is under test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from adapters.collection.encoders import Encoded
from adapters.collection.indexing.backends import Feed, LocalEncoder, Piece
from adapters.collection.indexing.build import index_sources
from retrieval import ConfigError
from tests.adapters.collection.helpers import assert_same_index, write_long_corpus


class SevensEncoder(LocalEncoder):
    """Encodes 10+ chunks per call in pieces of 7, and records what it was asked."""

    window = 10
    calls: ClassVar[list[list[str]]] = []

    def encode(self, ids: list[str], texts: list[Any]) -> Iterator[Piece]:
        self.calls.append(list(ids))
        for start in range(0, len(ids), 7):
            yield ids[start : start + 7], self.encoder.documents(texts[start : start + 7])


def test_windows_and_straddling_pieces_give_the_plain_index(
    st_legacy_mean: Path, tmp_path: Path
) -> None:
    folder = write_long_corpus(tmp_path / "docs")
    options: dict[str, Any] = {"model": str(st_legacy_mean), "chunk_tokens": 16}
    options.update(chunk_overlap=4, batch_size=4, progress=False)
    plain = index_sources([folder], tmp_path / "plain", **options)
    assert plain.execution == {"encoder": "local", "device": "auto"}

    class Sevens:
        def open(self, collection: Any, progress: bool) -> SevensEncoder:
            return SevensEncoder(collection.encoder, "auto")

    windowed = index_sources([folder], tmp_path / "windowed", backend=Sevens(), **options)
    assert windowed.chunks == plain.chunks > 20
    assert windowed.tokens == plain.tokens  # per-piece token counts add up exactly
    assert len(SevensEncoder.calls) >= 2  # several windows ...
    assert all(len(ids) >= 10 for ids in SevensEncoder.calls[:-1])  # ... of >= 10 chunks
    assert_same_index(tmp_path / "plain", tmp_path / "windowed")


def test_feed_splits_pieces_and_shares_token_counts() -> None:
    pieces = [
        (["a", "b", "c"], Encoded(np.eye(3, dtype=np.float32), n_tokens=30)),
        (["d", "e"], Encoded(np.ones((2, 3), np.float32), n_tokens=7)),
    ]
    feed = Feed(iter(pieces))
    first = list(feed.take(2))
    second = list(feed.take(3))
    assert [ids for ids, _ in first] == [["a", "b"]]
    assert [ids for ids, _ in second] == [["c"], ["d", "e"]]
    assert first[0][1].dense.tolist() == np.eye(3)[:2].tolist()  # type: ignore[union-attr]
    assert second[0][1].dense.tolist() == [[0.0, 0.0, 1.0]]  # type: ignore[union-attr]
    assert first[0][1].n_tokens + second[0][1].n_tokens == 30
    with pytest.raises(ConfigError, match="fewer chunks"):
        list(feed.take(1))


def test_ray_only_flags_need_ray(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.cli import main

    folder = write_long_corpus(tmp_path / "docs", n=1)
    index = tmp_path / "index"
    assert main(["index", str(folder), "--index", str(index), "--ray-actors", "2"]) == 2
    assert "--ray-actors applies to Ray encoding only" in capsys.readouterr().err
    assert not index.exists()  # refused before anything was written


def test_a_worker_failure_is_reported_by_its_own_error() -> None:
    """Ray prefixes a worker's exception with its remote traceback; the message keeps the
    worker's error and its fix (checked by hand against a real Ray failure: a model folder
    missing on the workers)."""
    from adapters.ray.indexing import _worker_error

    remote = RuntimeError(
        "ray::MapWorker(MapBatches(PartsWriter)).__init__() (pid=1, ip=127.0.0.1)\n"
        '  File "encoders/resolve.py", line 107, in resolve_model\n'
        "retrieval.errors.ModelNotFoundError: Model '/m' was not found. Tried, in order:\n"
        "  - local folder '/m': does not exist\n"
        "Fix: pass the path of a local model folder."
    )
    assert _worker_error(remote) == (
        "retrieval.errors.ModelNotFoundError: Model '/m' was not found. Tried, in order:\n"
        "  - local folder '/m': does not exist\n"
        "Fix: pass the path of a local model folder."
    )
    assert _worker_error(RuntimeError("no error line")) == "no error line"
