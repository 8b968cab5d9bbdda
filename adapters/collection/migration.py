"""``retrieval migrate DIR``: convert a retrieval-toolkit 0.1 folder to a collection in place.

Three layouts existed before collections; each already kept its vectors in ordinary index
folders, so nothing is re-encoded: the index folders stay where they are, their ids and
metadata (and the text the folder kept) go into ``collection.sqlite``, and a collection
manifest is written last - the commit point. A conversion killed before it leaves the old
folder as it was (the next run starts again).

* ``index.json`` (``retrieval index``): chunks' text came from the indexes' metadata, the
  incremental state from ``state.sqlite`` (kept, so re-runs stay incremental).
* ``pipeline.json`` (``Pipeline.save``): text from ``texts.jsonl`` when the pipeline kept it
  (it did only with rerank stages); the ``maxsim/`` folder becomes the token component.
* a ``langchain-store`` manifest (``RetrievalVectorStore.save``): documents from its
  ``documents`` file; the embeddings were never recorded, so the store opens with the
  ``embedding`` you pass to ``RetrievalVectorStore.load``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from adapters.collection.components import TYPES, Component, manifest_kind
from adapters.collection.config import PipelineConfig
from adapters.collection.format import DB_FILE, CollectionManifest, layout, write_manifest
from adapters.collection.state import CollectionState
from retrieval.errors import ConfigError, IndexCorruptError
from retrieval.storage import MANIFEST_NAME, IndexFolder

UNRECORDED = "unrecorded"
"""``encoder.external`` of a converted LangChain store: any embeddings may open it."""


def migrate(path: str | Path) -> str:
    """Convert the 0.1 folder at ``path``; returns what it was. A collection is left as is."""
    folder = Path(path)
    kind = layout(folder)
    if kind == "collection":
        return "already a collection"
    converters = {
        "index.json": _from_document_index,
        "pipeline.json": _from_pipeline,
        "langchain-store": _from_store,
    }
    if kind not in converters:
        msg = (
            f"{folder} holds no retrieval-toolkit 0.1 folder to convert (no index.json, "
            "pipeline.json or RetrievalVectorStore manifest)."
        )
        raise ConfigError(msg)
    (folder / DB_FILE).unlink(missing_ok=True)  # an earlier conversion that was killed
    return converters[kind](folder)


def _from_document_index(folder: Path) -> str:
    settings = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    kind = settings["kind"]
    search = dict(settings.get("search") or {})
    config = PipelineConfig.from_mapping(
        {
            "pipeline": kind,
            "model": settings["model"],
            "sparse_model": settings["model"] if kind == "sparse" else None,
            "dense_index": settings.get("dense_index", "flat"),
            "multivector_index": settings.get("multivector_index", "exact"),
            "plaid": settings.get("plaid") or {},
            **{k: v for k, v in search.items() if k in ("depth", "fusion", "rrf_k", "weights")},
            "rerank": search.get("rerank", []),
        }
    )
    parts = _components(folder, {"dense": "dense", "tokens": "tokens", "sparse": "sparse"}, config)
    state = CollectionState(folder / DB_FILE)
    try:
        _copy_chunks(state, parts, folder, texts=None)
        old = sqlite3.connect(f"file:{folder / 'state.sqlite'}?mode=ro", uri=True)
        try:
            rows = old.execute("SELECT key, digest, chunk_ids, pending, tokens FROM units")
            state.copy_units(rows.fetchall())
        finally:
            old.close()
    finally:
        state.close()
    spec = _spec(
        parts, one_pass=bool(settings.get("one_pass")), images=bool(settings.get("images"))
    )
    chunking = {
        "chunk_tokens": settings["chunk_tokens"],
        "chunk_overlap": settings["chunk_overlap"],
    }
    _commit(folder, CollectionManifest(config, spec, parts, chunking))
    for name in ("index.json", "state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
        (folder / name).unlink(missing_ok=True)
    return "a 0.1 `retrieval index` folder"


def _from_pipeline(folder: Path) -> str:
    config = PipelineConfig.from_mapping(
        json.loads((folder / "pipeline.json").read_text(encoding="utf-8"))
    )
    parts = _components(folder, {"dense": "dense", "maxsim": "tokens", "sparse": "sparse"}, config)
    texts: dict[str, str] = {}
    if (folder / "texts.jsonl").is_file():
        with (folder / "texts.jsonl").open(encoding="utf-8") as handle:
            texts = {row["_id"]: row["text"] for row in map(json.loads, handle)}
    state = CollectionState(folder / DB_FILE)
    try:
        _copy_chunks(state, parts, folder, texts=texts)
    finally:
        state.close()
    _commit(folder, CollectionManifest(config, _spec(parts), parts))
    for name in ("pipeline.json", "texts.jsonl"):
        (folder / name).unlink(missing_ok=True)
    return "a 0.1 saved Pipeline"


def _from_store(folder: Path) -> str:
    old = IndexFolder(folder).read_manifest("langchain-store", "RetrievalVectorStore")
    where = old.config.get("index")
    parts: list[Component] = []
    if where is not None:
        index_path = folder / str(where)
        name = TYPES.get(manifest_kind(index_path), "")
        parts = [Component(name, manifest_kind(index_path), {}, str(where))]
    state = CollectionState(folder / DB_FILE)
    try:
        with IndexFolder(folder).file(old, "documents").open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        ids = [r["id"] for r in rows]
        state.put_chunks(ids, [r["text"] for r in rows], [r["metadata"] for r in rows])
        state.commit()
    finally:
        state.close()
    kind = {"dense": "dense", "sparse": "sparse", "tokens": "multivector"}.get(
        parts[0].name if parts else "dense", "dense"
    )
    config = PipelineConfig(pipeline=kind, model="")  # type: ignore[arg-type]
    spec = _spec(parts) | {"external": UNRECORDED}
    manifest = CollectionManifest(config, spec, parts, count=len(ids), generation=old.generation)
    _commit(folder, manifest)
    return "a 0.1 RetrievalVectorStore folder"


def _components(folder: Path, names: dict[str, str], config: PipelineConfig) -> list[Component]:
    """The index folders present, as components (their folders keep their 0.1 names)."""
    found = []
    for folder_name, name in names.items():
        if not (folder / folder_name / MANIFEST_NAME).is_file():
            continue
        kind = manifest_kind(folder / folder_name)
        options: dict[str, Any] = {}
        if kind == "faiss":
            options = {"kind": config.dense_index, "metric": "cosine"}
        elif kind == "plaid":
            options = dict(config.plaid)
        found.append(Component(name, kind, options, folder_name))
    order = ("dense", "sparse", "tokens")
    return sorted(found, key=lambda c: order.index(c.name))


def _copy_chunks(
    state: CollectionState, parts: list[Component], folder: Path, texts: dict[str, str] | None
) -> None:
    """Ids and metadata from the first component's metadata database; the text from
    ``texts`` or, as ``retrieval index`` kept it, the ``text`` metadata key."""
    if not parts:
        return
    index_folder = IndexFolder(folder / str(parts[0].path))
    manifest = index_folder.read_manifest(parts[0].type, "the index class")
    source = index_folder.file(manifest, "metadata")
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, metadata FROM items ORDER BY label").fetchall()
    except sqlite3.DatabaseError as err:
        msg = f"The metadata database {source} is unreadable ({err})."
        raise IndexCorruptError(msg) from err
    finally:
        db.close()
    ids, bodies, metas = [], [], []
    for chunk_id, raw in rows:
        meta = json.loads(raw) if raw else {}
        text = meta.pop("text", None) if texts is None else texts.get(chunk_id)
        ids.append(chunk_id)
        bodies.append(text if isinstance(text, str) else None)
        metas.append(meta)
    state.put_chunks(ids, bodies, metas)
    state.commit()


def _spec(
    parts: list[Component], *, one_pass: bool = False, images: bool = False
) -> dict[str, Any]:
    # 0.1 folders encoded without sentence-transformers prompts: keep it that way.
    return {
        "representations": [p.representation for p in parts],
        "query_prompt": "",
        "document_prompt": "",
        "dimensions": None,
        "sparse_top_k": None,
        "one_pass": one_pass,
        "images": images,
        "external": None,
    }


def _commit(folder: Path, manifest: CollectionManifest) -> None:
    state = CollectionState(folder / DB_FILE)
    try:
        manifest.count = state.count_chunks()
    finally:
        state.close()
    write_manifest(folder, manifest)
    shutil.rmtree(folder / ".ray-shards", ignore_errors=True)
