"""Checkpoints of the indexer: batches are added one by one and saved at geometric intervals,
so a large corpus is not rewritten after every batch; the index and its state are the same as
with a save after every batch, and a failure between checkpoints loses only unsaved work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import adapters.collection.indexing.build as build
from adapters.collection import Collection
from adapters.collection.indexing.build import index_sources
from tests.adapters.collection.helpers import assert_same_index, write_corpus

WORDS = "cat dog man food park ball mat bread cheese wing air flow".split()


def _many_files(folder: Path, n: int = 40) -> Path:
    """``n`` one-chunk files: with ``batch_size=2`` a batch holds two of them."""
    docs = {
        f"d{i:02d}.txt": f"note {i}: the {WORDS[i % 12]} and the {WORDS[i // 12]}" for i in range(n)
    }
    return write_corpus(folder, docs)


def _count_saves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the index size at every save."""
    sizes: list[int] = []
    original = Collection.save

    def save(self: Collection, *args: Any, **kwargs: Any) -> None:
        sizes.append(len(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "save", save)
    return sizes


def test_saves_grow_geometrically_and_give_the_same_index(
    st_legacy_mean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _many_files(tmp_path / "docs")
    options: dict[str, Any] = {"model": str(st_legacy_mean), "batch_size": 2, "progress": False}
    sizes = _count_saves(monkeypatch)
    monkeypatch.setattr(build, "CHECKPOINT_GROWTH", 0.0)  # the old way: save every batch
    every = index_sources([folder], tmp_path / "every", **options)
    every_sizes, sizes[:] = list(sizes), []
    monkeypatch.setattr(build, "CHECKPOINT_GROWTH", 0.5)
    grown = index_sources([folder], tmp_path / "grown", **options)
    assert grown.chunks == every.chunks == 40
    assert every_sizes == list(range(2, 41, 2))  # a save after each batch of 2 files
    assert sizes == [2, 4, 8, 16, 32, 40]  # then only as the index doubles, and at the end
    assert_same_index(tmp_path / "every", tmp_path / "grown")


def test_a_failure_between_checkpoints_is_redone_by_the_next_run(
    st_legacy_mean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _many_files(tmp_path / "docs")
    options: dict[str, Any] = {"model": str(st_legacy_mean), "batch_size": 2, "progress": False}
    reference = index_sources([folder], tmp_path / "reference", **options)
    monkeypatch.setattr(build, "CHECKPOINT_GROWTH", 0.5)
    original, added = build._add_batch, []

    def failing(*args: Any) -> None:
        if len(added) == 15:  # 30 files added, 16 saved (checkpoints at 2, 4, 8, 16)
            raise RuntimeError("injected failure")
        added.append(1)
        original(*args)

    monkeypatch.setattr(build, "_add_batch", failing)
    with pytest.raises(RuntimeError, match="injected"):
        index_sources([folder], tmp_path / "index", **options)
    half = Collection.open(tmp_path / "index")
    try:
        saved = len(half)
        done = half.state.count_done()
    finally:
        half.close()
    assert saved == done == 16  # earlier checkpoints were kept ...
    monkeypatch.setattr(build, "_add_batch", original)
    resumed = index_sources([folder], tmp_path / "index", **options)
    assert resumed.unchanged == done  # ... and only the unsaved units are redone
    assert resumed.total_chunks == reference.total_chunks
    assert_same_index(tmp_path / "reference", tmp_path / "index")
