"""The collection folder: its manifest, what older folders look like, and the writer lock.

```
C/
  manifest.json       kind "collection": format version, pipeline settings (models, index
                      kinds, fusion, rerank), the encoder (prompts, representations),
                      chunking, and one entry per component (index type, options, folder)
  collection.sqlite   chunks (text + metadata) and the incremental state (adapters.collection.state)
  dense/ sparse/ lexical/ tokens/   one index per representation (adapters.collection.components)
  pages/              page images of an image collection (PNG, named by chunk id digest)
  .lock               the single-writer lock (flock)
```

The manifest is written atomically (``retrieval.storage.IndexFolder``: temp file, fsync,
rename) after the components are saved, and its generation goes up by one at every save,
which is how a writer notices that another one saved in between. A newer format version is
refused with the upgrade command; folders of retrieval-toolkit 0.1 (a ``retrieval index``
folder with ``index.json``, a ``Pipeline`` folder with ``pipeline.json``, a LangChain store
with a ``langchain-store`` manifest) are named with the one command that converts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.collection.components import Component
from adapters.collection.config import PipelineConfig
from retrieval.errors import ConfigError, IndexCorruptError, IndexFormatError, IndexNotFoundError
from retrieval.storage import MANIFEST_NAME, IndexFolder, Manifest

KIND = "collection"
FORMAT = 1
"""Newest collection layout this version writes and reads."""
DB_FILE = "collection.sqlite"
PAGES = "pages"
LOCK_FILE = ".lock"
OLD_FORMATS = {
    "index.json": "a `retrieval index` folder of retrieval-toolkit 0.1",
    "pipeline.json": "a saved Pipeline of retrieval-toolkit 0.1",
}


@dataclass
class CollectionManifest:
    """What ``manifest.json`` records about a collection."""

    config: PipelineConfig
    """Models, index kinds, fusion and rerank stages."""
    encoder: dict[str, Any]
    """``representations``, ``query_prompt``, ``document_prompt``, ``dimensions``,
    ``sparse_top_k``, ``one_pass``, ``images``, and ``external`` (the class name of a
    LangChain ``Embeddings`` the toolkit cannot load, else None)."""
    components: list[Component]
    chunking: dict[str, int] | None = None
    """``chunk_tokens`` / ``chunk_overlap`` of collections built from sources."""
    page_images: int = 0
    """Longest side (pixels) of the page images kept for image hits; 0 keeps none."""
    count: int = 0
    generation: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_manifest(self) -> Manifest:
        config = {
            "format": FORMAT,
            "pipeline": self.config.to_dict(),
            "encoder": dict(self.encoder),
            "chunking": self.chunking,
            "page_images": self.page_images,
            **self.extra,
        }
        state = {"components": {c.name: c.to_json() for c in self.components}}
        return Manifest(kind=KIND, dim=0, metric="", count=self.count,
                        generation=self.generation, config=config, state=state)  # fmt: skip

    @classmethod
    def from_manifest(cls, manifest: Manifest, where: Path) -> CollectionManifest:
        config = dict(manifest.config)
        version = config.pop("format", None)
        if not isinstance(version, int) or version > FORMAT:
            msg = (
                f"{where} was written by a newer retrieval-toolkit (collection format "
                f"{version!r}; this version reads up to {FORMAT}). Upgrade: "
                "pip install -U retrieval-toolkit."
            )
            raise IndexFormatError(msg)
        try:
            pipeline = PipelineConfig.from_mapping(config.pop("pipeline"))
            raw = manifest.state["components"]
            components = [Component.from_json(name, spec) for name, spec in raw.items()]
            return cls(
                pipeline,
                dict(config.pop("encoder")),
                components,
                config.pop("chunking", None),
                int(config.pop("page_images", 0)),
                manifest.count,
                manifest.generation,
                config,
            )
        except (KeyError, TypeError, ValueError, ConfigError) as err:
            msg = f"{where / MANIFEST_NAME} is not a readable collection manifest ({err})."
            raise IndexCorruptError(msg) from err


def layout(path: Path) -> str:
    """What ``path`` holds: ``collection``, ``index.json`` / ``pipeline.json`` /
    ``langchain-store`` (0.1 folders), ``index`` (one bare index folder), ``empty``,
    ``missing``, ``file`` or ``other``."""
    if not path.exists():
        return "missing"
    if not path.is_dir():
        return "file"
    manifest = path / MANIFEST_NAME
    if manifest.is_file():
        try:
            kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            return "other"
        return kind if kind in (KIND, "langchain-store") else "index"
    for name in OLD_FORMATS:
        if (path / name).is_file():
            return name
    children = [c for c in path.iterdir() if c.name != LOCK_FILE]
    return "empty" if not children else "other"


def read_manifest(path: Path, *, opener: str = "retrieval search") -> CollectionManifest:
    """The manifest of the collection at ``path``, or an error naming what the folder is
    and the command that makes (or converts) a collection there."""
    kind = layout(path)
    if kind == KIND:
        manifest = IndexFolder(path).read_manifest(KIND, "Collection.create")
        return CollectionManifest.from_manifest(manifest, path)
    if kind in OLD_FORMATS or kind == "langchain-store":
        what = OLD_FORMATS.get(kind, "a RetrievalVectorStore folder of retrieval-toolkit 0.1")
        msg = (
            f"{path} is {what}. Convert it in place to a collection (no re-encoding) with: "
            f"retrieval migrate {path}"
        )
        raise IndexFormatError(msg)
    if kind == "index":
        msg = (
            f"{path} is a single index folder, not a collection; open it with its index class "
            "(FaissIndex.open, ...) or build a collection with: retrieval index SOURCE "
            f"--index {path}"
        )
        raise IndexFormatError(msg)
    msg = (
        f"No collection at {path} ({MANIFEST_NAME} is missing). Build one with: retrieval "
        f"index SOURCE --index {path} (or {opener} on a folder that holds one)."
    )
    raise IndexNotFoundError(msg)


def write_manifest(path: Path, manifest: CollectionManifest) -> None:
    """Commit ``manifest`` as the next generation (atomic; bumps ``manifest.generation``)."""
    committed = IndexFolder(path).commit(manifest.to_manifest(), {})
    manifest.generation = committed.generation


def disk_generation(path: Path) -> int | None:
    """The generation of the manifest on disk (None when there is none)."""
    try:
        raw = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
        return int(raw["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# -- the single-writer lock ----------------------------------------------------------------
_HELD: dict[str, list[Any]] = {}
"""Folder -> [open lock file, depth]: re-entrant within a process (the indexer holds it for
a run, the collection takes it again for each save)."""
_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold the collection's single-writer lock (``flock``: released by the OS when the
    process dies, so a killed run never leaves a stale lock)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one writer is the caller's job
        yield
        return
    if folder.exists() and not folder.is_dir():
        msg = f"--index {folder} exists and is not a folder; choose a folder path."
        raise ConfigError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    with _HELD_LOCK:
        held = _HELD.get(key)
        if held is None:
            handle = (folder / LOCK_FILE).open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                msg = (
                    f"Another writer (a `retrieval index` run, a store or a pipeline) is "
                    f"writing {folder} right now; wait for it to finish (a stopped "
                    "`retrieval index` resumes where it stopped)."
                )
                raise ConfigError(msg) from None
            held = _HELD[key] = [handle, 0]
        held[1] += 1
    try:
        yield
    finally:
        with _HELD_LOCK:
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                fcntl.flock(held[0], fcntl.LOCK_UN)
                held[0].close()


_OWN_NAMES = frozenset({"dense", "sparse", "lexical", "tokens", PAGES, DB_FILE, f"{DB_FILE}-wal",
                        f"{DB_FILE}-shm", f".tmp-{MANIFEST_NAME}", LOCK_FILE})  # fmt: skip
"""What a collection folder holds (a creation killed early leaves some of it)."""


def check_new_folder(folder: Path, keep: set[str]) -> None:
    """Refuse a folder that holds anything but an unfinished collection (cleared) or the
    caller's own index folders ``keep``."""
    kind = layout(folder)
    if kind in ("missing", "empty"):
        return
    if kind == "file":
        msg = f"--index {folder} exists and is not a folder; choose a folder path."
        raise ConfigError(msg)
    if kind == KIND:
        msg = (
            f"{folder} already holds a collection. Open it (Collection.open, "
            "RetrievalVectorStore.load, retrieval search) or choose another path."
        )
        raise ConfigError(msg)
    if kind == "index":
        msg = f"{folder} already holds an index; choose another path for the collection."
        raise ConfigError(msg)
    if kind != "other":
        read_manifest(folder)  # an 0.1 folder: the error names `retrieval migrate`
    children = [c for c in folder.iterdir() if c.name != LOCK_FILE and c.name not in keep]
    if any(c.name not in _OWN_NAMES for c in children):
        msg = (
            f"--index {folder} is a non-empty folder without an index; choose an empty or "
            "new folder (the index must not mix with other files)."
        )
        raise ConfigError(msg)
    for child in children:  # what a creation killed before its manifest left behind
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
