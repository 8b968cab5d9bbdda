"""Token-aware chunking with overlap, keeping character offsets into the original text.

A document longer than ``size`` tokens becomes windows of ``size`` tokens that start every
``size - overlap`` tokens; each chunk is the exact slice of the text its tokens cover, so
``text[start:end] == chunk.text`` and a hit can point back into its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrieval.errors import ConfigError


@dataclass(frozen=True)
class Chunk:
    """A span of one document's (or one PDF page's) text."""

    text: str
    start: int
    """Character offset of the chunk's first token in the document (page) text."""
    end: int
    """Character offset just past its last token."""
    n_tokens: int


def check_chunking(size: int, overlap: int, model_limit: int) -> None:
    """``size`` must fit the model with its special tokens; ``0 <= overlap < size``."""
    if size < 8 or size > model_limit - 2:
        msg = (
            f"chunk size {size} tokens does not fit the model: use 8 to {model_limit - 2} "
            f"(the model takes {model_limit} tokens including 2 special ones)."
        )
        raise ConfigError(msg)
    if not 0 <= overlap < size:
        msg = f"chunk overlap must be in [0, {size}) tokens; got {overlap}."
        raise ConfigError(msg)


def chunk_text(text: str, tokenizer: Any, size: int, overlap: int) -> list[Chunk]:
    """Windows of at most ``size`` tokens, ``overlap`` tokens shared by neighbours.

    Text without any token (empty, whitespace) gives no chunk.
    """
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets: list[tuple[int, int]] = [tuple(o) for o in encoded["offset_mapping"]]
    if not offsets:
        return []
    step = size - overlap
    chunks = []
    for first in range(0, len(offsets), step):
        window = offsets[first : first + size]
        start, end = window[0][0], window[-1][1]
        chunks.append(Chunk(text[start:end], start, end, len(window)))
        if first + size >= len(offsets):
            break
    return chunks
