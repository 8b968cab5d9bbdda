"""The search page's routes over httpx: ``GET /`` (static, locked down), ``/v1/collection``,
``/v1/search`` snippets and the page image / similarity / heatmap routes - bounded sizes,
chunk ids never paths, missing pages, oversized images, the API key."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from adapters.cli import build_parser
from adapters.cli.cmd_serve import build_server_app
from adapters.collection import Collection
from adapters.collection.snippets import snippet
from adapters.server.web import views

KEY = {"Authorization": "Bearer k"}


def serve(index: Path, *flags: str) -> TestClient:
    args = build_parser().parse_args(["serve", "--index", str(index), "--device", "cpu", *flags])
    return TestClient(build_server_app(args))


@pytest.fixture(scope="module")
def image_client(image_collection: Path) -> Iterator[TestClient]:
    with serve(image_collection, "--api-key", "k") as client:
        yield client


@pytest.fixture(scope="module")
def text_client(text_collection: Path) -> Iterator[TestClient]:
    with serve(text_collection) as client:
        yield client


def page_ids(index: Path) -> list[str]:
    with Collection.open(index) as collection:
        ids = sorted(collection.state.ids())
        return [i for i in ids if collection.page_image(i) is not None]


def decode(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content)).convert("RGB")


def csp_hash(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def test_page_is_static_offline_and_open_without_the_key(image_client: TestClient) -> None:
    response = image_client.get("/")  # no API key: the page holds no data
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"https?://", html), "the page must load nothing from the network"
    assert re.search(r'<script type="application/json" id="page-data">null</script>', html)
    # The inline style and script are the only ones allowed, named by their hashes.
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.S)
    (style,) = re.findall(r"<style>(.*?)</style>", html, re.S)
    policy = response.headers["content-security-policy"]
    assert f"script-src {csp_hash(script)};" in policy
    assert f"style-src {csp_hash(style)};" in policy
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/v1/collection", "/v1/pages/image?id=x", "/v1/pages/heatmap?id=x&query=q"]
)
def test_data_routes_need_the_api_key(image_client: TestClient, path: str) -> None:
    refused = image_client.get(path)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "AuthenticationError"
    assert image_client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert image_client.get(path, headers=KEY).status_code != 401


def test_collection_summary(image_client: TestClient, text_client: TestClient) -> None:
    images = image_client.get("/v1/collection", headers=KEY).json()
    assert (images["kind"], images["images"], images["page_images"]) == ("multivector", True, 1024)
    assert images["chunks"] == 5
    assert images["name"] == "image-index"
    assert "MaxSim" in images["stages"]["maxsim"]
    text = text_client.get("/v1/collection").json()
    assert (text["kind"], text["images"], text["chunks"]) == ("hybrid", False, 5)
    assert text["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert text["stages"]["dense"] == "dense embeddings, cosine similarity"
    # Every score a hit carries has its meaning on the page.
    hits = text_client.post("/v1/search", json={"query": "bread", "k": 5}).json()["hits"]
    names = {name for hit in hits for name in hit["scores"]}
    assert {"dense", "maxsim"} < names  # and the fused score
    assert names <= set(text["stages"])


def test_search_snippets_mark_the_query_words(
    text_client: TestClient, text_collection: Path
) -> None:
    query = "when do cats sleep"
    body = {"query": query, "k": 5, "highlight": True}
    hits = text_client.post("/v1/search", json=body).json()["hits"]
    plain = text_client.post("/v1/search", json={"query": query, "k": 5}).json()["hits"]
    assert [h["id"] for h in hits] == [h["id"] for h in plain]  # same search, plus snippets
    assert "snippet" not in plain[0]
    with Collection.open(text_collection) as collection:
        expected = collection.search(query, k=5)
    assert [h["id"] for h in hits] == [h.id for h in expected]
    for hit in hits:
        pieces = hit["snippet"]
        marked = "".join(f"«{p}»" if matched else p for p, matched in pieces)
        assert marked == snippet(hit["metadata"]["text"], query)
    marks = {p.lower() for hit in hits for p, matched in hit["snippet"] if matched}
    assert marks
    assert marks <= {"cats", "cat", "sleep", "sleeps"}


def test_page_image_is_the_kept_page_bounded(
    image_client: TestClient, image_collection: Path
) -> None:
    chunk = page_ids(image_collection)[0]
    with Collection.open(image_collection) as collection:
        kept = Image.open(collection.page_image(chunk)).convert("RGB")
    full = decode(image_client.get("/v1/pages/image", params={"id": chunk, "max_side": 99999},
                                   headers=KEY))  # fmt: skip
    assert full.size == kept.size  # never upscaled, and max_side is clamped, not refused
    assert np.array_equal(np.asarray(full), np.asarray(kept))
    small = decode(
        image_client.get("/v1/pages/image", params={"id": chunk, "max_side": 100}, headers=KEY)
    )
    assert max(small.size) == 100
    default = decode(image_client.get("/v1/pages/image", params={"id": chunk}, headers=KEY))
    assert max(default.size) == min(views.DEFAULT_SIDE, max(kept.size))


def test_similarity_and_heatmaps_are_the_library_maps(
    image_client: TestClient, image_collection: Path
) -> None:
    from encoders.vision import render_heatmap, similarity_map

    chunk, query = page_ids(image_collection)[0], "revenue per quarter"
    info = image_client.get(
        "/v1/pages/similarity", params={"id": chunk, "query": query}, headers=KEY
    ).json()
    with Collection.open(image_collection) as collection:
        page = Image.open(collection.page_image(chunk)).convert("RGB")
        smap = similarity_map(collection.encoder.llm, query, page)
    assert [t["text"] for t in info["tokens"]] == smap.tokens
    assert info["grid"] == list(smap.maps.shape[1:])
    for token in info["tokens"]:
        assert token["max"] == pytest.approx(float(smap.maps[token["index"]].max()), abs=1e-4)
        if token["text"].startswith("<|") or not token["text"].strip():
            assert not token["word"], token  # special and blank tokens get no toggle
        elif token["text"].strip().isalpha():
            assert token["word"], token
    word = next(t["index"] for t in info["tokens"] if t["word"])
    for token, grid in [(None, smap.overall()), (word, smap.maps[word])]:
        params: dict[str, Any] = {"id": chunk, "query": query, "max_side": 2048}
        if token is not None:
            params["token"] = token
        response = image_client.get("/v1/pages/heatmap", params=params, headers=KEY)
        assert response.headers["content-type"] == "image/jpeg"
        served = np.asarray(decode(response), dtype=np.float32)
        expected = np.asarray(render_heatmap(page, grid, alpha=0.55), dtype=np.float32)
        assert served.shape == expected.shape
        assert np.abs(served - expected).mean() < 3.0  # JPEG's loss only
    out_of_range = {"id": chunk, "query": query, "token": len(smap.tokens)}
    bad = image_client.get("/v1/pages/heatmap", params=out_of_range, headers=KEY)
    assert bad.status_code == 400
    assert "out of range" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        ("pages/notes.txt", "keeps no page image: it is text"),
        ("no such chunk", "No chunk 'no such chunk'"),
        ("../manifest.json", "No chunk"),
        ("/etc/passwd", "No chunk"),
    ],
)
def test_missing_pages_are_404(image_client: TestClient, chunk: str, message: str) -> None:
    for route in ("/v1/pages/image", "/v1/pages/heatmap", "/v1/pages/similarity"):
        response = image_client.get(route, params={"id": chunk, "query": "q"}, headers=KEY)
        assert response.status_code == 404, (route, response.text)
        assert message in response.json()["error"]["message"]


def test_bad_parameters_are_400(image_client: TestClient, image_collection: Path) -> None:
    chunk = page_ids(image_collection)[0]
    for params in (
        {"id": chunk, "max_side": 0},
        {"id": chunk, "max_side": "big"},
        {"id": ""},
        {"id": "x" * 2000},
    ):
        response = image_client.get("/v1/pages/image", params=params, headers=KEY)
        assert response.status_code == 400, params
    long_query = {"id": chunk, "query": "q" * 5000}
    assert image_client.get("/v1/pages/heatmap", params=long_query, headers=KEY).status_code == 400


def _huge_png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels (decoding it would need gigabytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_tampered_collection_serves_nothing_outside_its_pages(
    tmp_path: Path, image_collection: Path
) -> None:
    """Chunk metadata pointing outside ``pages/``, a link out of it, a huge or broken image:
    404 or 422 with a reason, never a file from elsewhere, never a 500."""
    index = tmp_path / "copy"
    shutil.copytree(image_collection, index)
    secret = tmp_path / "secret.png"
    secret.write_bytes((index / "pages").iterdir().__next__().read_bytes())
    pages = index / "pages"
    (pages / "link.png").symlink_to(secret)
    (pages / "huge.png").write_bytes(_huge_png_header(20000, 20000))  # above PIL's limit
    (pages / "large.png").write_bytes(_huge_png_header(9000, 9000))  # above ours only
    big = Image.new("RGB", (4000, 3000), (250, 250, 250))
    big.save(pages / "big.png")
    (pages / "broken.png").write_bytes(b"not a png")
    crafted = {
        "up": "../manifest.json",
        "abs": str(secret),
        "dot": "pages/../../secret.png",
        "link": "pages/link.png",
        "huge": "pages/huge.png",
        "large": "pages/large.png",
        "big": "pages/big.png",
        "broken": "pages/broken.png",
        "gone": "pages/deleted.png",
    }
    with Collection.open(index) as collection:
        collection.state.put_chunks(
            list(crafted), [None] * len(crafted), [{"thumbnail": t} for t in crafted.values()]
        )
        collection.state.commit()
    with serve(index) as client:
        for chunk in ("up", "abs", "dot", "link", "gone"):
            response = client.get("/v1/pages/image", params={"id": chunk})
            assert response.status_code == 404, (chunk, response.text)
            assert "keeps no page image" in response.json()["error"]["message"]
        for chunk in ("huge", "large"):
            huge = client.get("/v1/pages/image", params={"id": chunk})
            assert huge.status_code == 422
            assert "too large to decode" in huge.json()["error"]["message"]
        assert "9000x9000 pixels" in huge.json()["error"]["message"]
        broken = client.get("/v1/pages/heatmap", params={"id": "broken", "query": "q"})
        assert broken.status_code == 422
        assert "cannot be read" in broken.json()["error"]["message"]
        bounded = decode(client.get("/v1/pages/image", params={"id": "big", "max_side": 10**9}))
        assert bounded.size == (views.MAX_SIDE, views.MAX_SIDE * 3 // 4)
        heat = decode(client.get("/v1/pages/heatmap", params={"id": "big", "query": "q"}))
        assert max(heat.size) == views.DEFAULT_SIDE
