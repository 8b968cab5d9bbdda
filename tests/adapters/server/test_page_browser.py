"""The search page in a real headless Chromium against ``retrieval serve --index`` on
127.0.0.1: type a query, submit, read the rendered results; for an image collection (tiny
ColQwen3) the page image and its similarity map appear and switch per query token. The
``--html`` export renders the same view from a file. Screenshots: ``browser.output_dir()``.

Skipped, with the reason, where Playwright or Debian's ``chromium`` is missing
(``scripts/setup.sh`` installs both when it can)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import build_parser, main
from adapters.cli.cmd_serve import build_server_app
from adapters.collection import Collection
from adapters.collection.snippets import snippet
from tests.adapters.server.browser import CHROMIUM_FLAGS, chromium_path, new_page, output_dir
from tests.adapters.server.conftest import start_uvicorn

pytestmark = pytest.mark.slow
HITS = """els => els.map(e => ({
  id: e.dataset.id,
  rank: e.querySelector('.rank').textContent,
  score: e.querySelector('.score').textContent,
  kind: e.querySelector('.kind').textContent,
  snippet: e.querySelector('.snippet') ? e.querySelector('.snippet').textContent : null,
  marks: [...e.querySelectorAll('.snippet mark')].map(m => m.textContent),
  elements: e.querySelectorAll('.snippet *:not(mark)').length,
  figure: e.querySelector('figure.page') !== null,
}))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
    )
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "Chromium is not installed: Debian's `chromium` package (scripts/setup.sh runs "
            "apt-get install chromium when it can; set RETRIEVAL_CHROMIUM to use another)"
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


def serve(index: Path, *flags: str) -> tuple[str, Any]:
    args = build_parser().parse_args(["serve", "--index", str(index), "--device", "cpu", *flags])
    return start_uvicorn(build_server_app(args))


def test_text_collection_query_with_the_api_key(browser: Any, text_collection: Path) -> None:
    url, stop = serve(text_collection, "--api-key", "k")
    try:
        page, watch = new_page(browser, (url + "/", "blob:", "data:"))
        page.goto(url + "/")
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('key')"
        )
        page.fill("#api-key", "k")
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#collection-name:text('text-index')")
        query = "when do cats sleep"
        page.fill("#q", query)
        page.press("#q", "Enter")
        page.wait_for_selector("article.hit")
        rows = page.eval_on_selector_all("article.hit", HITS)
        with Collection.open(text_collection) as collection:
            expected = collection.search(query, k=10)
        assert [r["id"] for r in rows] == [h.id for h in expected]
        assert [r["rank"] for r in rows] == [str(i) for i in range(1, len(expected) + 1)]
        shown = [float(r["score"]) for r in rows]  # 4 significant digits, as the CLI
        assert shown == pytest.approx([h.score for h in expected], rel=1e-3)
        kinds = [list(h.scores)[-1] for h in expected]  # the stage that gave the final score
        assert [r["kind"] for r in rows] == kinds
        for row, hit in zip(rows, expected, strict=True):
            assert row["snippet"] == snippet(hit.metadata["text"], query).replace("«", "").replace(
                "»", ""
            )
            assert row["elements"] == 0  # markup in a document stays text
            assert not row["figure"]
        cats = next(r for r in rows if r["id"].endswith("cats.md"))
        assert {m.lower() for m in cats["marks"]} >= {"cats", "sleep"}
        markup = next(r for r in rows if "markup" in r["id"])
        assert '<script>alert("x")</script>' in markup["snippet"]
        assert page.eval_on_selector_all("script", "s => s.length") == 2
        # Every stage's score on demand, with what it means.
        page.click("article.hit >> nth=0 >> details.stages summary")
        stages = page.inner_text("article.hit >> nth=0 >> details.stages table.stages")
        for name in [*expected[0].scores, "cosine similarity"]:
            assert name in stages
        assert "q=when+do+cats+sleep" in page.url  # a shareable URL (the key never in it)
        assert "k=" in page.url
        assert "k%3D" not in page.url
        page.screenshot(path=str(output_dir() / "text-collection.png"), full_page=True)
        # The optional filter: the toolkit's filter language, checked by the server.
        page.fill("#filter", '{"doc_id": {"$in": ["docs/dogs.txt", "docs/bread.txt"]}}')
        page.press("#q", "Enter")
        page.wait_for_function("() => document.querySelectorAll('article.hit').length === 2")
        ids = page.eval_on_selector_all("article.hit", "es => es.map(e => e.dataset.id)")
        assert sorted(ids) == ["docs/bread.txt", "docs/dogs.txt"]
        page.fill("#filter", '{"doc_id": {"$near": 1}}')
        page.press("#q", "Enter")
        page.wait_for_selector("#status.error")
        assert "$near" in page.inner_text("#status")
        assert watch.problems == []
    finally:
        stop()


def test_image_collection_shows_page_and_similarity_map(
    browser: Any, image_collection: Path
) -> None:
    url, stop = serve(image_collection)
    try:
        page, watch = new_page(browser, (url + "/", "blob:", "data:"))
        page.goto(url + "/?q=cats+on+a+page&k=5")  # the page runs a query in its URL
        page.wait_for_selector("figure.page[data-state=map]")
        rows = page.eval_on_selector_all("article.hit", HITS)
        assert len(rows) == 5
        with Collection.open(image_collection) as collection:
            expected = [h.id for h in collection.search("cats on a page", k=5)]
            pages = {h for h in expected if collection.page_image(h) is not None}
        assert [r["id"] for r in rows] == expected
        assert {r["id"] for r in rows if r["figure"]} == pages
        assert len(pages) == 4  # two page images and two PDF pages; notes.txt is text
        notes = next(r for r in rows if r["id"].endswith("notes.txt"))
        assert [m.lower() for m in notes["marks"]] == ["page", "cats"]
        first = f"article.hit[data-id='{next(i for i in expected if i in pages)}']"
        page.wait_for_selector(f"{first} figure.page[data-state=map]")
        shown = page.eval_on_selector(
            first,
            """a => ({page: a.querySelector('img.page-img').naturalWidth,
                    heat: a.querySelector('img.heatmap').naturalWidth,
                    hidden: a.querySelector('img.heatmap').hidden,
                    src: a.querySelector('img.heatmap').src,
                    chips: [...a.querySelectorAll('button.chip')].map(b => b.textContent),
                    caption: a.querySelector('.map .caption').textContent})""",
        )
        assert shown["page"] > 0
        assert shown["heat"] == shown["page"]
        assert not shown["hidden"]
        assert shown["src"].startswith("blob:")
        assert shown["chips"][:2] == ["page", "all tokens"]
        assert len(shown["chips"]) > 2
        assert shown["caption"] == "similarity map: all query tokens"
        # One query token's map, then the bare page.
        page.click(f"{first} button.chip >> nth=2")
        page.wait_for_function(
            f"() => document.querySelector(\"{first} figure.page\").dataset.token !== 'all'",
            timeout=30_000,
        )
        after = page.eval_on_selector(f"{first} img.heatmap", "i => i.src")
        assert after != shown["src"]
        assert page.inner_text(f"{first} .caption").startswith("similarity map: token")
        page.screenshot(path=str(output_dir() / "image-collection.png"), full_page=True)
        page.click(f"{first} button.chip >> nth=0")
        assert page.eval_on_selector(f"{first} img.heatmap", "i => i.hidden")
        assert watch.problems == []
    finally:
        stop()


def test_html_export_renders_offline(
    browser: Any, image_collection: Path, text_collection: Path, tmp_path: Path
) -> None:
    for name, index, queries in [
        ("image", image_collection, ["cats on a page", "revenue per quarter"]),
        ("text", text_collection, ["when do cats sleep"]),
    ]:
        out = tmp_path / f"{name}.html"
        assert main(["search", *queries, "--index", str(index), "-k", "3", "--html", str(out)]) == 0
        page, watch = new_page(browser, (out.as_uri(), "data:"))
        page.goto(out.as_uri())
        page.wait_for_selector("article.hit")
        titles = page.eval_on_selector_all("section.result h2", "hs => hs.map(h => h.textContent)")
        assert titles == queries
        assert page.is_hidden("#search-form")
        figures = page.eval_on_selector_all("figure.page", "fs => fs.length")
        if name == "image":
            assert figures > 0
            page.wait_for_function(
                "() => [...document.querySelectorAll('figure.page')]"
                ".every(f => f.dataset.state === 'map')"
            )
            srcs = page.eval_on_selector_all("img.heatmap", "is => is.map(i => i.src)")
            assert all(s.startswith("data:image/jpeg;base64,") for s in srcs)
            page.click("article.page-hit >> nth=0 >> button.chip >> nth=2")
            page.wait_for_function(
                "() => document.querySelector('figure.page').dataset.token !== 'all'"
            )
        else:
            assert figures == 0
            assert page.eval_on_selector_all("mark", "ms => ms.length") > 0
        page.screenshot(path=str(output_dir() / f"export-{name}.png"), full_page=True)
        assert watch.problems == []
