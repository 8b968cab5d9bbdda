"""The vector store's folder: documents committed with the toolkit's own storage, index beside.

Layout::

    store/
      manifest.json                 kind "langchain-store"; config.index = the index folder
      documents.g000003.jsonl       one {"id", "text", "metadata"} object per line
      index/                        the index's own folder (manifest, vectors, metadata)

Documents go through ``retrieval.storage.IndexFolder`` (temp file, fsync, rename, checksums,
manifest written last), so a crash never leaves them half written. Nothing is pickled. The
index is opened by its manifest ``kind`` through a fixed table of the toolkit's index classes,
never by a class name read from disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from retrieval.errors import IndexCorruptError, IndexFormatError
from retrieval.protocols import Index
from retrieval.storage import MANIFEST_NAME, IndexFolder, Manifest

KIND = "langchain-store"
INDEX_FOLDER = "index"
Documents = dict[str, tuple[str, dict[str, Any]]]
"""id -> (page_content, metadata)."""


def commit(
    folder: IndexFolder, documents: Documents, index_path: Path | None, previous: Manifest | None
) -> Manifest:
    """Write ``documents`` as the next generation and point the manifest at ``index_path``."""
    where = None
    if index_path is not None:
        # inside the store: relative, so the folder can move; elsewhere: absolute
        where = (
            os.path.relpath(index_path.resolve(), folder.path.resolve())
            if _inside(index_path, folder.path)
            else str(index_path.resolve())
        )
    base = previous or Manifest(kind=KIND, dim=0, metric="", count=0)
    manifest = Manifest(
        kind=KIND,
        dim=base.dim,
        metric=base.metric,
        count=len(documents),
        generation=base.generation,
        config={"index": where},
    )
    lines = [
        json.dumps({"id": i, "text": text, "metadata": meta}, ensure_ascii=False)
        for i, (text, meta) in documents.items()
    ]
    body = "".join(line + "\n" for line in lines)
    return folder.commit(manifest, {"documents": ("jsonl", lambda p: _write(p, body))})


def read(folder: IndexFolder, *, verify: bool) -> tuple[Manifest, Documents, Path | None]:
    """The committed manifest, documents and index folder (``None``: no index yet)."""
    manifest = folder.read_manifest(KIND, "RetrievalVectorStore", verify=verify)
    source = folder.file(manifest, "documents")
    documents: Documents = {}
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                row = json.loads(line)
                doc_id, text, meta = row["id"], row["text"], row["metadata"]
                ok = isinstance(doc_id, str) and isinstance(text, str) and isinstance(meta, dict)
            except (ValueError, KeyError, TypeError) as err:
                msg = f"{source} line {number} is not a document record ({err})."
                raise IndexCorruptError(msg) from err
            if not ok:
                msg = f"{source} line {number} has wrong field types."
                raise IndexCorruptError(msg)
            documents[doc_id] = (text, meta)
    if len(documents) != manifest.count:
        msg = f"{source} holds {len(documents)} documents but the manifest counts {manifest.count}."
        raise IndexCorruptError(msg)
    where = manifest.config.get("index")
    return manifest, documents, None if where is None else folder.path / str(where)


def open_index(path: Path, *, verify: bool) -> Index:
    """Open the index folder at ``path`` with the class its manifest names."""
    try:
        kind = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))["kind"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = f"The store's index folder {path} has no readable {MANIFEST_NAME} ({err})."
        raise IndexCorruptError(msg) from err
    classes = _index_classes()
    if kind not in classes:
        msg = (
            f"The index at {path} is of kind {kind!r}, which RetrievalVectorStore.load cannot "
            f"open (known: {', '.join(sorted(classes))}). Open it yourself and pass index=."
        )
        raise IndexFormatError(msg)
    index: Index = classes[kind].open(path, verify=verify)
    return index


def _index_classes() -> Mapping[str, Any]:
    import indexes
    import late_interaction
    from adapters.collection import MaxSimIndex

    known = (indexes.FaissIndex, indexes.ExactIndex, indexes.SparseIndex, MaxSimIndex)
    classes: dict[str, Any] = {cls.KIND: cls for cls in known}
    plaid = getattr(late_interaction, "PlaidIndex", None)  # arrives with the PLAID issue
    if plaid is not None and hasattr(plaid, "KIND"):
        classes[plaid.KIND] = plaid
    return classes


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
