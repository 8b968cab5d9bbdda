"""Index folders: atomic commits, manifest validation and clear errors for damage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import IndexCorruptError, IndexFormatError, IndexNotFoundError
from retrieval.storage import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    IndexFolder,
    Manifest,
    atomic_write,
    npy_writer,
    read_npy,
)


def _commit(folder: IndexFolder, manifest: Manifest, payload: bytes) -> Manifest:
    return folder.commit(manifest, {"blob": ("bin", lambda p: p.write_bytes(payload))})


@pytest.fixture
def committed(tmp_path: Path) -> tuple[IndexFolder, Manifest]:
    folder = IndexFolder.create(tmp_path / "idx", "Test.open")
    manifest = Manifest(kind="test", dim=4, metric="ip", count=2, config={"a": 1})
    return folder, _commit(folder, manifest, b"first")


def test_commit_writes_generation_files_and_sweeps_old_ones(
    committed: tuple[IndexFolder, Manifest],
) -> None:
    folder, first = committed
    assert first.generation == 1
    (folder.path / ".tmp-blob.g000009.bin").write_bytes(b"left by a crash")
    (folder.path / "blob.g000007.bin").write_bytes(b"orphan of an interrupted commit")
    (folder.path / "notes.txt").write_text("user file")
    second = _commit(folder, first, b"second")
    assert second.generation == 2
    names = sorted(p.name for p in folder.path.iterdir())
    assert names == ["blob.g000002.bin", MANIFEST_NAME, "notes.txt"]
    reread = folder.read_manifest("test", "Test.create")
    assert reread == second
    assert folder.file(reread, "blob").read_bytes() == b"second"


def test_missing_manifest_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match=r"manifest.json is missing.*Test.create"):
        IndexFolder(tmp_path / "nothing").read_manifest("test", "Test.create")


@pytest.mark.parametrize("text", ["", '{"kind": "test", "dim": 4', "[]", '{"kind": "test"}'])
def test_truncated_or_garbled_manifest_is_corrupt(
    committed: tuple[IndexFolder, Manifest], text: str
) -> None:
    folder, _ = committed
    (folder.path / MANIFEST_NAME).write_text(text)
    with pytest.raises(IndexCorruptError, match="unreadable or incomplete.*restore it"):
        folder.read_manifest("test", "Test.create")


def test_newer_format_and_other_kind_are_refused(committed: tuple[IndexFolder, Manifest]) -> None:
    folder, _ = committed
    with pytest.raises(IndexFormatError, match="holds a 'test' index, not a 'faiss' one"):
        folder.read_manifest("faiss", "FaissIndex.create")
    raw = json.loads((folder.path / MANIFEST_NAME).read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    (folder.path / MANIFEST_NAME).write_text(json.dumps(raw))
    with pytest.raises(IndexFormatError, match=r"newer retrieval-toolkit.*Upgrade"):
        folder.read_manifest("test", "Test.create")


def test_truncated_altered_and_missing_files_are_corrupt(
    committed: tuple[IndexFolder, Manifest],
) -> None:
    folder, manifest = committed
    blob = folder.file(manifest, "blob")
    blob.write_bytes(b"firs")
    with pytest.raises(
        IndexCorruptError, match="truncated or altered: 4 bytes, the manifest says 5"
    ):
        folder.read_manifest("test", "Test.create")
    blob.write_bytes(b"FIRST")
    with pytest.raises(IndexCorruptError, match="does not match its SHA-256"):
        folder.read_manifest("test", "Test.create")
    folder.read_manifest("test", "Test.create", verify=False)  # sizes only
    blob.unlink()
    with pytest.raises(IndexCorruptError, match="is missing"):
        folder.read_manifest("test", "Test.create")


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def failing(path: Path) -> None:
        path.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_npy_round_trip_never_pickles(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.int64).reshape(2, 3)
    entry = atomic_write(tmp_path / "a.npy", npy_writer(array))
    assert entry.bytes == (tmp_path / "a.npy").stat().st_size
    np.testing.assert_array_equal(read_npy(tmp_path / "a.npy"), array)
    with pytest.raises(ValueError, match="pickle"):
        atomic_write(tmp_path / "b.npy", npy_writer(np.array([object()], dtype=object)))
    (tmp_path / "c.npy").write_bytes(b"not an npy file")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        read_npy(tmp_path / "c.npy")
