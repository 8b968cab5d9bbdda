"""``Collection`` itself: the folder it writes, what it refuses, two writers, and the files it
may hand out (page images, source files) - never a path outside what it owns or indexed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.collection import Collection, PipelineConfig
from retrieval import ConfigError, IndexFormatError

TEXTS = ["the cat sat on the mat", "shock waves in a supersonic flow", "bread with cheese"]


def _config(model: Path, **changes: object) -> PipelineConfig:
    return PipelineConfig(pipeline="dense", model=str(model), device="cpu").replace(**changes)


def test_folder_manifest_and_round_trip(st_legacy_mean: Path, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    collection = Collection(_config(st_legacy_mean), path=folder)
    collection.add(["a", "b", "c"], TEXTS, [{"n": 0}, {"n": 1}, None])
    collection.save()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["kind"], manifest["count"], manifest["config"]["format"]) == (
        "collection",
        3,
        1,
    )
    assert manifest["config"]["encoder"]["query_prompt"] == "query: "  # the model's own prompt
    assert manifest["state"]["components"]["dense"]["type"] == "faiss"
    names = {p.name for p in folder.iterdir()} - {"collection.sqlite-wal", "collection.sqlite-shm"}
    assert names == {".lock", "collection.sqlite", "dense", "manifest.json"}
    again = Collection.open(folder)
    assert len(again) == 3
    assert again.documents(["c", "zz"]) == {"c": ("bread with cheese", {})}
    hits = again.search(TEXTS[1], k=2, filter={"n": {"$gte": 0}})
    assert hits[0].metadata == {"n": 1, "text": TEXTS[1]}
    again.delete(["b"])
    again.save()
    assert len(Collection.open(folder)) == 2
    with pytest.raises(ConfigError, match="already holds a collection"):
        Collection(_config(st_legacy_mean), path=folder)


def test_a_second_writer_cannot_lose_the_firsts_changes(
    st_legacy_mean: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "c"
    first = Collection(_config(st_legacy_mean), path=folder)
    first.add(["a"], TEXTS[:1])
    first.save()
    second = Collection.open(folder)
    first.add(["b"], TEXTS[1:2])
    first.save()
    second.add(["c"], TEXTS[2:])
    with pytest.raises(ConfigError, match="saved by another writer since it was opened"):
        second.save()
    assert sorted(Collection.open(folder).state.ids()) == ["a", "b"]


def test_refusals_and_leftovers(st_legacy_mean: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lives in memory"):
        Collection(_config(st_legacy_mean)).save()
    with pytest.raises(ConfigError, match="add documents first"):
        Collection(_config(st_legacy_mean)).retriever  # noqa: B018
    with pytest.raises(ConfigError, match="holds no documents yet"):
        Collection(_config(st_legacy_mean)).search("cats")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="non-empty folder without an index"):
        Collection(_config(st_legacy_mean), path=busy)
    killed = tmp_path / "killed"  # a creation killed before its manifest
    killed.mkdir()
    (killed / "collection.sqlite").write_bytes(b"")
    (killed / "dense").mkdir()
    Collection(_config(st_legacy_mean), path=killed).add(["a"], TEXTS[:1])
    newer = tmp_path / "newer"
    Collection(_config(st_legacy_mean), path=newer)
    raw = json.loads((newer / "manifest.json").read_text())
    raw["config"]["format"] = 2
    (newer / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(IndexFormatError, match="newer retrieval-toolkit"):
        Collection.open(newer)


def test_files_handed_out_stay_inside_what_it_owns(st_legacy_mean: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not indexed")
    collection = Collection(_config(st_legacy_mean), path=tmp_path / "c", page_images=64)
    metadata = [
        {"source": str(secret), "thumbnail": "../secret.txt"},
        {"source": "relative/path.txt", "thumbnail": "pages/../../secret.txt"},
        {"source": str(secret), "thumbnail": "pages/missing.png"},
    ]
    collection.add(["a", "b", "c"], TEXTS, metadata)
    for chunk_id in ("a", "b", "c"):
        assert collection.page_image(chunk_id) is None
        assert collection.source_file(chunk_id) is None  # never indexed from a file


def test_the_01_import_paths_still_work() -> None:
    import adapters.collection as collection
    from adapters.indexing import index_info, index_sources
    from adapters.pipeline import MaxSimIndex, Pipeline, PipelineConfig

    assert Pipeline is collection.Collection
    assert (PipelineConfig, MaxSimIndex) == (collection.PipelineConfig, collection.MaxSimIndex)
    assert (index_sources, index_info) == (collection.index_sources, collection.collection_info)
