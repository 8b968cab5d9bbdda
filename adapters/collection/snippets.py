"""Readable result snippets: the part of a chunk around the query's words, highlighted."""

from __future__ import annotations

import re
from collections.abc import Callable

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it of on or the this to was "
    "what when where which who why with you your my me we our".split()
)


def query_terms(query: str) -> list[str]:
    """Lower-cased query words worth highlighting (no stopwords, 2+ characters)."""
    words = (w.lower() for w in _WORD.findall(query))
    return list(dict.fromkeys(w for w in words if len(w) > 1 and w not in STOPWORDS))


def snippet(
    text: str, query: str, width: int = 240, mark: Callable[[str], str] | None = None
) -> str:
    """About ``width`` characters of ``text`` around its best-matching query words (whole
    line breaks flattened), each match passed through ``mark`` (default ``«word»``, which
    unlike ``**word**`` cannot be confused with Markdown in the documents themselves)."""
    mark = mark or (lambda word: f"«{word}»")
    return "".join(
        mark(piece) if hit else piece for piece, hit in snippet_parts(text, query, width)
    )


def snippet_parts(text: str, query: str, width: int = 240) -> list[tuple[str, bool]]:
    """``snippet`` as ``(piece, matched)`` segments, in order: what a page renders with
    ``<mark>`` elements (each piece escaped as text, never parsed as markup)."""
    flat = " ".join(text.split())
    pattern = _pattern(query_terms(query))
    start = 0
    if pattern is not None:
        matches = [m.start() for m in pattern.finditer(flat)]
        if matches:
            # The window start that covers the most matches.
            best = max(matches, key=lambda s: sum(s <= m < s + width for m in matches))
            start = max(0, best - width // 4)
    piece = flat[start : start + width]
    if start > 0:
        cut = piece.find(" ")
        piece = "…" + (piece[cut + 1 :] if 0 <= cut < 20 else piece)
    if start + width < len(flat):
        piece += "…"
    if pattern is None:
        return [(piece, False)] if piece else []
    parts: list[tuple[str, bool]] = []
    done = 0
    for match in pattern.finditer(piece):
        if match.start() > done:
            parts.append((piece[done : match.start()], False))
        parts.append((match.group(0), True))
        done = match.end()
    if done < len(piece):
        parts.append((piece[done:], False))
    return parts


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # Whole words, plus simple suffixes: "test" also marks "tests" and "testing", and a
    # plural query word ("cats") marks its singular ("cat").
    stems = {t[:-1] if len(t) > 3 and t.endswith("s") else t for t in terms}
    alternatives = "|".join(re.escape(t) for t in sorted(stems, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\w{{0,3}}\b", re.IGNORECASE)
