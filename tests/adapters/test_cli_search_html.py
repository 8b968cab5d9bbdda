"""``retrieval search --html FILE``: one self-contained page (no request to anywhere) holding
the same hits as ``search --json``, with snippets, and for page-image hits the page and its
similarity maps inline. The page in a browser: ``server/test_page_browser.py``."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from adapters.cli import main
from adapters.collection import Collection
from adapters.collection.snippets import snippet
from adapters.server.web.export import EXPORT_SIDE


def export(tmp_path: Path, index: Path, queries: list[str], k: int = 3) -> tuple[str, Any]:
    out = tmp_path / "out.html"
    assert main(["search", *queries, "--index", str(index), "-k", str(k), "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    (block,) = re.findall(r'<script type="application/json" id="page-data">(.*?)</script>', html)
    return html, json.loads(block)


def search_json(capsys: pytest.CaptureFixture[str], index: Path, query: str) -> list[Any]:
    capsys.readouterr()
    assert main(["search", query, "--index", str(index), "-k", "3", "--json"]) == 0
    return list(json.loads(capsys.readouterr().out)["hits"])


def image_of(url: str) -> Any:
    kind, _, payload = url.partition(";base64,")
    assert kind in ("data:image/png", "data:image/jpeg")
    return Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB")


def check_self_contained(html: str) -> None:
    assert not re.search(r"https?://", html)  # no CDN, font, script or image from anywhere
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    (policy,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert f"script-src 'sha256-{digest}'" in policy
    assert "connect-src 'none'" in policy
    assert "img-src data:" in policy


@pytest.mark.slow
def test_text_collection_export(
    tmp_path: Path, text_collection: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = ["when do cats sleep", "baking bread"]
    html, data = export(tmp_path, text_collection, queries)
    check_self_contained(html)
    # A document's own "</script>" cannot end the data block: only the two real ones end.
    assert html.count("</script>") == 2
    assert data["collection"]["name"] == "text-index"
    assert [section["query"] for section in data["results"]] == queries
    for query, section in zip(queries, data["results"], strict=True):
        expected = search_json(capsys, text_collection, query)
        assert [h["id"] for h in section["hits"]] == [h["id"] for h in expected]
        for hit, want in zip(section["hits"], expected, strict=True):
            assert hit["score"] == pytest.approx(want["score"])
            assert hit["scores"] == pytest.approx(want["scores"])
            marked = "".join(f"«{p}»" if m else p for p, m in hit["snippet"])
            assert marked == snippet(want["metadata"]["text"], query)
            assert "page_image" not in hit
    assert any(m for p, m in data["results"][0]["hits"][0]["snippet"])


@pytest.mark.slow
def test_image_collection_export(tmp_path: Path, image_collection: Path) -> None:
    query = "cats on a page"
    html, data = export(tmp_path, image_collection, [query], k=5)
    check_self_contained(html)
    assert len(html) < 2_000_000  # five hits, 4 pages with their maps
    hits = data["results"][0]["hits"]
    with Collection.open(image_collection) as collection:
        pages = [h for h in hits if collection.page_image(h["id"]) is not None]
        assert len(pages) == 4
        for hit in pages:
            assert "thumbnail" not in hit["metadata"]  # no server paths of kept pages
            kept = Image.open(collection.page_image(hit["id"])).convert("RGB")
            kept.thumbnail((EXPORT_SIDE, EXPORT_SIDE))
            page = image_of(hit["page_image"])
            assert np.array_equal(np.asarray(page), np.asarray(kept))  # PNG: lossless
            similarity = hit["similarity"]
            assert similarity["tokens"]
            assert all(t["word"] for t in similarity["tokens"])
            assert sorted(similarity["maps"], key=int) == [
                str(t["index"]) for t in similarity["tokens"]
            ]
            for url in [similarity["overall"], *similarity["maps"].values()]:
                assert image_of(url).size == page.size
    text_hits = [h for h in hits if "page_image" not in h]
    assert [h["id"] for h in text_hits] == ["pages/notes.txt"]
    assert [p for p, m in text_hits[0]["snippet"] if m] == ["page", "cats"]
