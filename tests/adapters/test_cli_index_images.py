"""``retrieval index`` with a multi-modal model (a tiny random ColQwen3): image files and PDF
pages are indexed as images, text files as text, all as token vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main
from tests import tiny_vl
from tests.adapters.collection.helpers import write_pdf


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.slow
def test_images_and_pdf_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(tiny_vl.make_colqwen(tmp_path / "colqwen", "colqwen3"))
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "red.png").write_bytes(tiny_vl.png_bytes(color=(200, 10, 10)))
    (folder / "green.jpg.png").write_bytes(tiny_vl.png_bytes(color=(10, 200, 10)))
    write_pdf(folder / "report.pdf", ["First page", "Second page"])
    (folder / "notes.txt").write_text("a red square on a page", encoding="utf-8")
    (folder / "broken.png").write_bytes(b"not an image")
    index = str(tmp_path / "index")

    assert main(["index", str(folder), "--index", index, "--model", model, "--kind", "dense"]) == 2
    assert "embeds images and text as token vectors only" in capsys.readouterr().err

    (report,) = run_json(capsys, "index", str(folder), "--index", index, "--model", model)
    assert (report["added"], report["total_chunks"]) == (4, 5)
    assert len(report["skipped"]) == 1
    assert "broken.png: not a readable image" in report["skipped"][0]
    (info,) = run_json(capsys, "info", "--index", index)
    assert (info["settings"]["kind"], info["settings"]["images"]) == ("multivector", True)

    (out,) = run_json(capsys, "search", "red square", "--index", index, "-k", "10")
    hits = {h["id"]: h["metadata"] for h in out["hits"]}
    assert sorted(hits) == [
        "pages/green.jpg.png", "pages/notes.txt", "pages/red.png",
        "pages/report.pdf#0", "pages/report.pdf#1",
    ]  # fmt: skip
    assert (hits["pages/report.pdf#1"]["page"], "text" in hits["pages/red.png"]) == (2, False)
    assert hits["pages/notes.txt"]["text"] == "a red square on a page"
    assert main(["search", "red square", "--index", index, "-k", "2"]) == 0
    assert "pages/" in capsys.readouterr().out

    # LangChain Documents of page hits: source, page number and the kept page image.
    from PIL import Image

    from adapters.collection import Collection
    from adapters.langchain import RetrievalVectorStore

    store = RetrievalVectorStore.load(index)
    docs = {d.id: d for d in store.similarity_search("red square", k=10)}
    page = docs["pages/report.pdf#1"]
    assert page.page_content == ""  # an image: no text
    assert (page.metadata["source"], page.metadata["page"]) == (str(folder / "report.pdf"), 2)
    thumbnail = Path(page.metadata["thumbnail"])
    assert thumbnail.parent == (Path(index) / "pages").resolve()
    with Image.open(thumbnail) as image:
        assert max(image.size) <= 1024
    assert "thumbnail" not in docs["pages/notes.txt"].metadata  # text chunks have none
    collection = Collection.open(index)
    assert collection.page_image("pages/report.pdf#1") == thumbnail
    assert collection.page_image("pages/notes.txt") is None
    assert collection.source_file("pages/red.png") == folder.resolve() / "red.png"
    assert collection.page_image("no such chunk") is collection.source_file("nope") is None
    collection.close()

    # Deleting a file drops its chunks and its kept page images.
    (folder / "red.png").unlink()
    (report,) = run_json(capsys, "index", str(folder), "--index", index)
    assert report["removed"] == 1
    assert len(list((Path(index) / "pages").iterdir())) == 3  # green + the PDF's two pages
