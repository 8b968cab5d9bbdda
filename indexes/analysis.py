"""Text analysis for lexical (BM25) search: words -> lower case -> stop words out -> stems.

The chain follows Lucene's ``EnglishAnalyzer`` (what Elasticsearch, OpenSearch and Pyserini
index English with): Unicode word tokens, the possessive ``'s`` dropped, lower case, Lucene's
33 English stop words removed, then the Porter stemmer (``PyStemmer``'s C Snowball build).
Other languages get their Snowball stemmer and no stop words (``language="none"``: words only,
no stemming). The analyzer is recorded in the index, so a reopened index analyses queries the
way it analysed its documents.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from retrieval.errors import ConfigError

ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
"""Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``."""

_WORD = re.compile(r"\w+(?:['’]\w+)*")
_MAX_TERM = 64  # longer "words" (hashes, base64) are cut, as search engines cap term length


class Analyzer:
    """Turns text into index terms."""

    def __init__(self, language: str = "english") -> None:
        if not isinstance(language, str) or language not in languages():
            msg = (
                f"Unknown analyzer language {language!r}. Valid: {', '.join(languages())} "
                "('none': lower-cased words, no stemming)."
            )
            raise ConfigError(msg)
        self.language = language
        self._stop = ENGLISH_STOP_WORDS if language == "english" else frozenset()
        self._stem = _stemmer(language)

    def __repr__(self) -> str:
        return f"Analyzer({self.language!r})"

    def terms(self, text: str) -> list[str]:
        """The terms of ``text`` in order (repeats kept)."""
        if not isinstance(text, str):
            msg = f"Lexical search indexes text; got {type(text).__name__} ({text!r:.60})."
            raise ConfigError(msg)
        words = [_strip_possessive(w)[:_MAX_TERM] for w in _WORD.findall(text.casefold())]
        words = [w for w in words if w and w not in self._stop]
        return words if self._stem is None else self._stem(words)

    def counts(self, texts: Iterable[str]) -> list[Counter[str]]:
        """Term frequencies of each text."""
        return [Counter(self.terms(text)) for text in texts]


def languages() -> tuple[str, ...]:
    """Languages with a stemmer here (PyStemmer's Snowball algorithms), plus ``none``."""
    try:
        import Stemmer
    except ImportError:  # pragma: no cover - PyStemmer is a dependency
        return ("none",)
    return ("english", *sorted(set(Stemmer.algorithms()) - {"english", "porter"}), "none")


def _strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith(("'s", "’s")) else word


def _stemmer(language: str) -> Any:
    if language == "none":
        return None
    import Stemmer

    # English: Porter's original algorithm, as Lucene's EnglishAnalyzer (PorterStemFilter).
    # A PyStemmer object is not thread-safe (concurrent searches analyse queries at once):
    # one per thread, each caching the stems of its last 100k distinct words.
    algorithm = "porter" if language == "english" else language
    local = threading.local()

    def stem(words: list[str]) -> list[str]:
        stemmer = getattr(local, "stemmer", None)
        if stemmer is None:
            stemmer = local.stemmer = Stemmer.Stemmer(algorithm, 100_000)
        return list(stemmer.stemWords(words))

    return stem
