"""Text out of files: plain text and Markdown as they are, HTML without markup, PDF per page.

A reader returns the pages of one file: ``[(page_number, text)]`` with ``page_number`` None for
formats without pages and 1-based for PDF. A file that cannot be read raises
``UnreadableFileError`` with the reason; the indexer skips it with a warning and counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from retrieval.errors import MissingDependencyError, RetrievalError

Page = tuple[int | None, str]

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst")
HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIXES = (".pdf",)
FOLDER_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + PDF_SUFFIXES
"""File types a folder source indexes; other files are ignored (and counted)."""


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
"""Image files a folder source indexes for a multi-modal (image) model."""


class UnreadableFileError(RetrievalError, ValueError):
    """One source file is unreadable or corrupt; the run skips it and goes on."""


def read_pages(path: Path) -> list[Page]:
    """The text of ``path`` by page; raises ``UnreadableFileError`` when it cannot be read."""
    suffix = path.suffix.lower()
    reader: Callable[[Path], list[Page]]
    if suffix in PDF_SUFFIXES:
        reader = _read_pdf
    elif suffix in HTML_SUFFIXES:
        reader = _read_html
    else:
        reader = _read_text
    try:
        return reader(path)
    except OSError as err:
        msg = f"{path}: cannot read the file ({err.strerror or err})."
        raise UnreadableFileError(msg) from err


def read_images(path: Path) -> list[tuple[int | None, Any]]:
    """An image file as one RGB ``PIL.Image``, or a PDF as one image per page (1-based
    page numbers), for multi-modal models; ``UnreadableFileError`` when it cannot be read."""
    from encoders.vision.pdf import pdf_pages

    try:
        if path.suffix.lower() in PDF_SUFFIXES:
            return [(page.page_number, page.image) for page in pdf_pages(path)]
        from PIL import Image

        with Image.open(path) as image:
            return [(None, image.convert("RGB"))]
    except ImportError as err:
        raise MissingDependencyError("pillow", "vision") from err  # noqa: EM101
    except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
        msg = f"{path}: not a readable image or PDF ({err}); remove it from the folder."
        raise UnreadableFileError(msg) from err


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        msg = (
            f"{path}: not UTF-8 text (byte {err.start} is invalid); convert it to UTF-8 or "
            "remove it from the folder."
        )
        raise UnreadableFileError(msg) from err


def _read_text(path: Path) -> list[Page]:
    return [(None, _decode(path))]


class _TextOfHtml(HTMLParser):
    """Collects visible text; block elements become line breaks, scripts/styles vanish."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
         "pre", "blockquote", "title", "table", "ul", "ol"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML document, the title first when the body does not show it."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    body = "\n".join(line for line in lines if line)
    title = " ".join(parser.title.split())
    return f"{title}\n{body}" if title and title not in body else body


def _read_html(path: Path) -> list[Page]:
    return [(None, html_to_text(_decode(path)))]


def _read_pdf(path: Path) -> list[Page]:
    try:
        import pypdfium2 as pdfium
    except ImportError as err:
        raise MissingDependencyError("pypdfium2", "vision") from err  # noqa: EM101
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as err:
        msg = f"{path}: not a readable PDF ({err}); re-export it or remove it from the folder."
        raise UnreadableFileError(msg) from err
    try:
        pages: list[Page] = []
        for number in range(len(document)):
            page = document[number]
            text_page = page.get_textpage()
            pages.append((number + 1, text_page.get_text_range()))
            text_page.close()
            page.close()
        return pages
    finally:
        document.close()
