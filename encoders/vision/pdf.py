"""PDF -> page images with pypdfium2 (a wheel; no poppler or other system binaries)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.errors import ConfigError, MissingDependencyError


@dataclass(frozen=True, eq=False)
class Page:
    """One rendered page."""

    image: Any
    """The page as an RGB ``PIL.Image``."""
    page_number: int
    """1-based page number in the source document."""
    source: str
    """The PDF's path (or ``"<bytes>"``)."""
    dpi: int = 144
    metadata: dict[str, Any] = field(default_factory=dict)
    """``{"source", "page", "dpi"}``: what a search hit should carry back."""

    def __post_init__(self) -> None:
        if not self.metadata:
            info = {"source": self.source, "page": self.page_number, "dpi": self.dpi}
            self.metadata.update(info)


def pdf_pages(
    pdf: str | os.PathLike[str] | bytes,
    *,
    dpi: int = 144,
    pages: list[int] | None = None,
    max_pages: int | None = None,
) -> list[Page]:
    """Render a PDF's pages (1-based ``pages`` to pick some; ``max_pages`` caps the count).

    ``dpi`` sets the resolution: 72 = one pixel per PDF point; 144 keeps small print legible
    while a US-letter page stays ~1.9M pixels.
    """
    try:
        import pypdfium2 as pdfium
    except ImportError as err:  # pragma: no cover - pypdfium2 is in the vision extra
        package = "pypdfium2"
        raise MissingDependencyError(package, "vision") from err
    if not isinstance(dpi, int) or not 18 <= dpi <= 600:
        msg = f"dpi must be an integer between 18 and 600, got {dpi!r}."
        raise ConfigError(msg)
    source = "<bytes>" if isinstance(pdf, bytes) else str(pdf)
    if not isinstance(pdf, bytes) and not Path(pdf).is_file():
        msg = f"PDF file {source!r} does not exist."
        raise ConfigError(msg)
    try:
        document = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError as err:
        msg = f"Cannot open {source!r} as a PDF: {err}."
        raise ConfigError(msg) from err
    try:
        count = len(document)
        wanted = list(range(1, count + 1)) if pages is None else list(pages)
        bad = [p for p in wanted if not 1 <= p <= count]
        if bad:
            msg = f"Page numbers {bad} are outside {source!r}'s 1..{count}."
            raise ConfigError(msg)
        if max_pages is not None:
            wanted = wanted[:max_pages]
        rendered = []
        for number in wanted:
            bitmap = document[number - 1].render(scale=dpi / 72)
            rendered.append(Page(bitmap.to_pil().convert("RGB"), number, source, dpi))
        return rendered
    finally:
        document.close()
