"""``index_info``: what an index folder holds and how it was built."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from adapters.collection.store import DocumentIndex


def index_info(path: str | Path) -> dict[str, Any]:
    """Settings, counts and sizes of the index at ``path`` (JSON-ready)."""
    index = DocumentIndex.open(path)
    try:
        units = index.state.units()
        chunks = len(index)
        tokens = index.state.count_tokens()
        components: dict[str, Any] = {}
        for name, part in index.parts.items():
            files = _folder_bytes(Path(index.path) / name)
            entry: dict[str, Any] = {
                "type": type(part).__name__,
                "count": len(part),
                "bytes": files,
            }
            if chunks:
                entry["bytes_per_chunk"] = round(files / chunks, 1)
            n_tokens = tokens if name == "tokens" else 0
            if n_tokens:
                entry["tokens"] = n_tokens
                entry["bytes_per_token"] = round(files / n_tokens, 1)
            components[name] = entry
        total = _folder_bytes(Path(index.path))
        return {
            "path": str(index.path),
            "settings": asdict(index.settings),
            "documents": sum(1 for u in units.values() if u.done),
            "unfinished": sum(1 for u in units.values() if not u.done),
            "chunks": chunks,
            "tokens": tokens,
            "bytes": total,
            "bytes_per_document": round(total / max(1, len(units)), 1),
            "components": components,
        }
    finally:
        index.close()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
