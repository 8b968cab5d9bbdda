"""Damaged index folders fail to open with errors that say what is wrong and what to do."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from indexes import ExactIndex, FaissIndex, SparseIndex
from retrieval import IndexCorruptError, IndexFormatError, IndexNotFoundError
from tests.indexes.cases import CASE_IDS, CASES, Case


def _saved(case: Case, path: Path) -> dict[str, object]:
    index = case.create(path)
    index.add([f"d{i}" for i in range(300)], case.docs(300, 0))
    index.save()
    return json.loads((path / "manifest.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_each_damage_is_reported(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "idx"
    manifest = _saved(case, path)
    for entry in manifest["files"].values():  # type: ignore[attr-defined]
        target = path / entry["path"]
        original = target.read_bytes()
        target.write_bytes(original[: len(original) // 2])
        with pytest.raises(IndexCorruptError, match="truncated or altered"):
            case.open(path)
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0xFF
        target.write_bytes(bytes(flipped))
        with pytest.raises(IndexCorruptError, match="does not match its SHA-256"):
            case.open(path)
        target.write_bytes(original)
    assert len(case.open(path)) == 300
    text = (path / "manifest.json").read_text()
    (path / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(IndexCorruptError, match="unreadable or incomplete"):
        case.open(path)
    (path / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IndexFormatError, match="format version 99.*Upgrade"):
        case.open(path)
    (path / "manifest.json").unlink()
    with pytest.raises(IndexNotFoundError, match="manifest.json is missing"):
        case.open(path)


def test_opening_with_the_wrong_class_names_the_kind(tmp_path: Path) -> None:
    SparseIndex.create(tmp_path / "sparse", vocab_size=10)
    with pytest.raises(IndexFormatError, match="holds a 'sparse' index, not a 'faiss' one"):
        FaissIndex.open(tmp_path / "sparse")
    with pytest.raises(IndexFormatError, match="not a 'exact' one"):
        ExactIndex.open(tmp_path / "sparse")


def test_unreadable_payload_behind_a_matching_checksum(tmp_path: Path) -> None:
    """A file replaced together with its manifest entry (e.g. by hand) still fails clearly."""
    path = tmp_path / "idx"
    manifest = _saved(CASES[1], path)  # faiss-flat
    entry = manifest["files"]["vectors"]  # type: ignore[index]
    garbage = b"not a faiss index at all"
    (path / entry["path"]).write_bytes(garbage)
    entry.update(bytes=len(garbage), sha256=hashlib.sha256(garbage).hexdigest())
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="faiss cannot read"):
        FaissIndex.open(path)
