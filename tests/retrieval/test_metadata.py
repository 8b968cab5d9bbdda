"""The shared id / label / metadata store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from retrieval import ConfigError, Hit, compile_filter
from retrieval.metadata import MetadataStore


def test_labels_are_fresh_on_every_upsert_and_never_reused(tmp_path: Path) -> None:
    store = MetadataStore.memory()
    first = store.upsert(["a", "b", "c"], [{"x": 1}, None, {}])
    assert first.labels.tolist() == [0, 1, 2]
    assert first.replaced.tolist() == []
    second = store.upsert(["b", "d"], None)
    assert second.labels.tolist() == [3, 4]
    assert second.replaced.tolist() == [1]
    assert len(store) == 4
    assert store.delete(["a", "zzz"]).tolist() == [0]
    assert len(store) == 3
    store.save(tmp_path / "m.sqlite")
    loaded = MetadataStore.load(tmp_path / "m.sqlite")
    assert len(loaded) == 3
    assert loaded.next_label == 5
    assert loaded.upsert(["e"], None).labels.tolist() == [5]  # 0 and 1 stay retired
    assert loaded.all_labels().tolist() == [2, 3, 4, 5]


def test_hits_resolve_ids_scores_and_metadata() -> None:
    store = MetadataStore.memory()
    store.upsert(["a", "b", "c"], [{"x": 1}, None, {"y": "z"}])
    labels = np.array([[2, 0, -1], [1, -1, -1]])
    scores = np.array([[0.9, 0.5, -np.inf], [0.3, -np.inf, -np.inf]], dtype=np.float32)
    hits = store.hits(labels, scores)
    assert [[(h.id, h.metadata) for h in row] for row in hits] == [
        [("c", {"y": "z"}), ("a", {"x": 1})],
        [("b", {})],
    ]
    assert hits[0][0].score == pytest.approx(0.9)


def test_hits_are_ordinary_hits_with_their_own_metadata_dicts() -> None:
    store = MetadataStore.memory()
    store.upsert(["a", "b"], [{"tags": ["x"]}, None])
    store.delete(["b"])  # label 1 is gone: a stale label is skipped like padding
    labels = np.array([[0, 1, -1], [0, 0, -1]])
    hits = store.hits(labels, np.ones((2, 3), np.float32))
    assert [[h.id for h in row] for row in hits] == [["a"], ["a", "a"]]
    first, again = hits[1]
    assert type(first) is Hit
    assert first == Hit("a", 1.0, {"tags": ["x"]})
    assert repr(first) == "Hit(id='a', score=1.0, metadata={'tags': ['x']})"
    first.metadata["tags"].append("mutated")  # one hit's dict is not another's
    assert again.metadata == {"tags": ["x"]}
    assert hits[0][0].metadata == {"tags": ["x"]}
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.score = 2.0  # type: ignore[misc]


def test_matching_is_cached_until_the_next_write() -> None:
    store = MetadataStore.memory()
    store.upsert(["a", "b"], [{"g": 1}, {"g": 2}])
    compiled = compile_filter({"g": 1})
    assert compiled is not None
    first = store.matching(compiled)
    assert first.labels.tolist() == [0]
    assert store.matching(compiled) is first
    store.upsert(["c"], [{"g": 1}])
    assert store.matching(compiled).labels.tolist() == [0, 2]


def test_bad_metadata_is_refused_without_changes() -> None:
    store = MetadataStore.memory()
    with pytest.raises(ConfigError, match="not JSON data"):
        store.upsert(["a"], [{"v": float("nan")}])
    with pytest.raises(ConfigError, match="must be a dict"):
        store.upsert(["a"], ["text"])  # type: ignore[list-item]
    assert len(store) == 0
    assert store.next_label == 0
