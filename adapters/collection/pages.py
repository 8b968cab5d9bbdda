"""Files a collection may hand out for its hits: page images it keeps (``pages/``) and the
source files it indexed - never a path outside what it owns or read itself, whatever a
chunk's metadata says (a LangChain store may carry any ``source``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from adapters.collection.format import PAGES, CollectionManifest
from adapters.collection.state import CollectionState
from retrieval.storage import atomic_write


class PageFiles:
    """``Collection`` methods for page images and source files."""

    path: Path | None
    manifest: CollectionManifest
    state: CollectionState

    def save_page_image(self, chunk_id: str, image: Any) -> str | None:
        """Keep a page image (scaled to ``page_images`` pixels) for a chunk; returns its
        path relative to the collection (None when page images are not kept)."""
        size = self.manifest.page_images
        if self.path is None or not size:
            return None
        name = hashlib.sha256(chunk_id.encode("utf-8")).hexdigest()[:32] + ".png"
        (self.path / PAGES).mkdir(exist_ok=True)
        copy = image.copy()
        copy.thumbnail((size, size))
        atomic_write(self.path / PAGES / name, lambda p: copy.save(p, format="PNG"))
        return f"{PAGES}/{name}"

    def page_image(self, chunk_id: str) -> Path | None:
        """The kept page image of a chunk: a file inside this collection, or None."""
        entry = self.state.chunks([chunk_id]).get(chunk_id)
        relative = entry[1].get("thumbnail") if entry else None
        if self.path is None or not isinstance(relative, str):
            return None
        root = (self.path / PAGES).resolve()
        candidate = (self.path / relative).resolve()
        if candidate.parent != root or not candidate.is_file():
            return None
        return candidate

    def source_file(self, chunk_id: str) -> Path | None:
        """The source file of a chunk, only when this collection indexed that very file
        (a path recorded in its indexing state) and it still exists; else None."""
        entry = self.state.chunks([chunk_id]).get(chunk_id)
        source = entry[1].get("source") if entry else None
        if not isinstance(source, str):
            return None
        path = Path(source)
        if not path.is_absolute() or str(path) not in self.state.units():
            return None
        return path if path.is_file() else None

    def sweep_pages(self) -> None:
        """Delete kept page images no chunk refers to any more."""
        if self.path is None or not (self.path / PAGES).is_dir():
            return
        used = set(self.state.metadata_values("thumbnail"))
        for child in (self.path / PAGES).iterdir():
            if f"{PAGES}/{child.name}" not in used:
                child.unlink(missing_ok=True)

    def _absolute(self, metadata: dict[str, Any]) -> dict[str, Any]:
        thumbnail = metadata.get("thumbnail")
        if self.manifest.page_images and self.path is not None and isinstance(thumbnail, str):
            metadata["thumbnail"] = str(self.path.resolve() / thumbnail)
        return metadata
