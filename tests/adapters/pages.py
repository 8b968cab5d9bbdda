"""Collections for the search-page tests: a text one (the real MiniLM) and an image one (a
tiny random ColQwen3) built by ``retrieval index`` as users build them."""

from __future__ import annotations

from pathlib import Path

from adapters.cli import main
from tests import tiny_vl
from tests.adapters.collection.helpers import write_pdf

TEXT_DOCS = {
    "cats.md": "# Cats\n\nCats sleep most of the day and hunt at night. A cat likes a warm mat.",
    "dogs.txt": "Dogs run in the park and play with a ball. A dog sleeps after a long walk.",
    "bread.txt": "Bake the bread in a hot oven until the crust is brown and crisp.",
    "wings.txt": "Wing lift comes from the pressure difference over the airfoil.",
    # Markup in a document is text: the page must show it, never run it.
    "markup.html.txt": 'Cats <b>bold</b> </script><script>alert("x")</script> <img src=x>',
}
PAGES = [
    ("Quarterly revenue", "bar chart: revenue grows each quarter", (40, 90, 200)),
    ("Cat behaviour", "cats sleep most of the day", (200, 90, 40)),
]


def build_text_collection(root: Path) -> Path:
    """Text files indexed with the embedded default model (MiniLM, dense)."""
    folder = root / "docs"
    folder.mkdir(parents=True)
    for name, text in TEXT_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    index = root / "text-index"
    assert main(["index", str(folder), "--index", str(index), "--device", "cpu"]) == 0
    return index


def page_png(title: str, line: str, color: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    """A page-like image: a title, a line of text and a little bar chart."""
    import io

    from PIL import Image, ImageDraw

    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    draw.text((30, 30), title, fill="black")
    draw.text((30, 60), line, fill="black")
    for bar in range(4):
        height = 40 + 30 * ((bar + len(title)) % 4)
        draw.rectangle((40 + 80 * bar, 400 - height, 90 + 80 * bar, 400), fill=color)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def build_image_collection(root: Path) -> tuple[Path, Path]:
    """Page images, a two-page PDF and a text file indexed with a tiny random ColQwen3
    (page images kept); returns (collection, model)."""
    model = tiny_vl.make_colqwen(root / "colqwen3", "colqwen3")
    folder = root / "pages"
    folder.mkdir(parents=True)
    for number, (title, line, color) in enumerate(PAGES):
        (folder / f"page{number + 1}.png").write_bytes(page_png(title, line, color, (420, 560)))
    write_pdf(folder / "report.pdf", ["Air pressure and lift", "Boundary layers"])
    (folder / "notes.txt").write_text("a red square on a page about cats", encoding="utf-8")
    index = root / "image-index"
    args = ["index", str(folder), "--index", str(index), "--model", str(model), "--device", "cpu"]
    assert main(args) == 0
    return index, model
