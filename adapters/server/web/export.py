"""``retrieval search --html FILE``: the search page with the results inside it - one file
that opens offline anywhere (a notebook's ``IFrame``, a mail attachment, a CI artefact).

Page images and similarity maps are embedded as data URLs: each page once (PNG), plus its
overall map and the maps of up to ``views.MAX_TOKEN_MAPS`` query words (JPEG). Absolute
paths of kept page images stay out of the file; hits are otherwise as ``search --json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adapters.server.web import views
from adapters.server.web.page import render_page
from retrieval.errors import ConfigError
from retrieval.storage import atomic_write

EXPORT_SIDE = 512
"""Longest side of embedded page images and maps (pixels)."""


def export_data(
    collection: Any,
    results: Sequence[tuple[str, Sequence[Any]]],
    *,
    max_side: int = EXPORT_SIDE,
    text_field: str = "text",
) -> dict[str, Any]:
    """The page's data for ``results`` (``(query, hits)`` pairs, hits as ``Collection.search``
    returns them): hits with snippets, page images and maps as data URLs."""
    pages = views.PageViews(collection)
    sections = []
    for query, hits in results:
        rows = []
        for hit in hits:
            row = views.hit_view(hit.to_dict(), query, text_field)
            row["metadata"] = {k: v for k, v in row["metadata"].items() if k != "thumbnail"}
            if collection.page_image(hit.id) is not None:
                row.update(_embedded_page(pages, query, hit.id, max_side))
            rows.append(row)
        sections.append({"query": query, "hits": rows})
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = views.collection_summary(collection)
    return {"collection": summary, "results": sections, "created": created}


def _embedded_page(pages: views.PageViews, query: str, chunk_id: str, side: int) -> dict[str, Any]:
    try:
        entry: dict[str, Any] = {"page_image": views.data_url(pages.page(chunk_id, side))}
    except views.PageUnreadable as err:
        return {"page_error": str(err)}
    try:
        info = pages.tokens(query, chunk_id)
    except ConfigError as err:  # a model that draws no similarity maps
        entry["page_error"] = str(err)
        return entry
    words = [t for t in info["tokens"] if t["word"]][: views.MAX_TOKEN_MAPS]
    maps = {
        str(t["index"]): views.data_url(pages.heatmap(query, chunk_id, t["index"], side), "JPEG")
        for t in words
    }
    overall = views.data_url(pages.heatmap(query, chunk_id, None, side), "JPEG")
    entry["similarity"] = {"tokens": words, "grid": info["grid"], "overall": overall,
                           "maps": maps}  # fmt: skip
    return entry


def write_html(
    path: str | os.PathLike[str],
    collection: Any,
    results: Sequence[tuple[str, Sequence[Any]]],
    **options: Any,
) -> Path:
    """Write the self-contained page for ``results`` to ``path`` (atomically)."""
    target = Path(path)
    html = render_page(export_data(collection, results, **options))

    def write(temp: Path) -> None:
        temp.write_text(html, encoding="utf-8")

    atomic_write(target, write)
    return target
