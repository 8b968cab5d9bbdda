"""``BM25Index``: lexical search over texts with Okapi BM25, no model needed.

``add(ids, texts)`` analyses each text (``indexes.analysis.Analyzer``: Lucene's English chain
by default) and stores its term frequencies in term-major postings (``indexes.sparse_postings``,
the storage of ``SparseIndex``) plus its length; ``search("query text")`` scores the documents
that contain a query term with Lucene's BM25 (what Elasticsearch / OpenSearch / Pyserini
rank by)::

    score(d) = sum over query terms t of  qtf(t) * idf(t) * tf / (tf + k1 * norm(d))
    norm(d)  = 1 - b + b * |d| / avgdl
    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

The collection statistics (``N``, ``df``, ``avgdl``) are computed at query time over the live
documents, so adds and deletes never leave stale weights behind (Lucene counts deleted
documents until a merge; this index does not). Documents without a query term are not
returned, so a search may give fewer than ``k`` hits. Scores are exact, so ``score_ids``
rescores any stored document.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from indexes.analysis import Analyzer
from indexes.rows import Growable, RowTable
from indexes.sparse_postings import Postings, add_at
from indexes.term_major import Segment
from retrieval.errors import ConfigError, IndexCorruptError
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.storage import IndexFolder, Manifest, npy_writer
from retrieval.stored_index import Components, StoredIndex
from retrieval.types import SparseEmbeddings

_FILES = ("term_ptr", "term_rows", "term_values", "lengths", "labels", "live")
_TERM_FILES = ("term_bytes", "term_ends")
FORMAT = 1
DEFAULT_K1 = 1.2
"""Lucene's and Elasticsearch's default term-frequency saturation."""
DEFAULT_B = 0.75
"""Lucene's and Elasticsearch's default length normalisation."""


class BM25Index(StoredIndex):
    """Inverted index of analysed texts, ranked by BM25, with the shared index protocol."""

    KIND = "bm25"

    def __init__(
        self,
        manifest: Manifest,
        store: MetadataStore,
        folder: IndexFolder | None,
        rows: RowTable,
        postings: Postings,
        lengths: np.ndarray,
        terms: list[str],
    ):
        """Internal: use ``BM25Index.create`` or ``BM25Index.open``."""
        super().__init__(replace(manifest, format_version=FORMAT), store, folder)
        config = manifest.config
        self.k1, self.b = float(config["k1"]), float(config["b"])
        self.analyzer = Analyzer(str(config["language"]))
        self._rows = rows
        self._postings = postings
        self._lengths = Growable(lengths.astype(np.float32))
        self._terms = terms
        self._term_ids = {term: i for i, term in enumerate(terms)}
        self._norm: np.ndarray | None = None  # per-row length factor, until the next write

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        language: str = "english",
    ) -> BM25Index:
        """A new empty index; ``k1`` >= 0 and ``b`` in [0, 1] are BM25's usual parameters,
        ``language`` picks the analyzer (``indexes.analysis.languages()``)."""
        _check_parameters(k1, b)
        Analyzer(language)  # checks the language before anything is written
        config = {"k1": float(k1), "b": float(b), "language": language}
        manifest = Manifest(kind=cls.KIND, dim=0, metric="bm25", count=0, config=config)
        manifest, store, folder = cls._new_parts(path, manifest)
        empty = np.zeros(0, np.float32)
        index = cls(manifest, store, folder, RowTable(), Postings(0), empty, [])
        return index._first_commit()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> BM25Index:
        """Open a saved index (checksums verified unless ``verify=False``)."""
        manifest, store, folder = cls._open_parts(path, verify=verify)
        arrays = cls._read_arrays(folder, manifest, (*_FILES, *_TERM_FILES))
        terms = _decode_terms(arrays["term_bytes"], arrays["term_ends"], folder)
        segment = Segment(arrays["term_ptr"], arrays["term_rows"], arrays["term_values"])
        n_rows = len(arrays["labels"])
        if len(segment.ptr) != len(terms) + 1 or len(arrays["lengths"]) != n_rows:
            msg = f"{folder.path}: the BM25 postings do not fit the index. Restore the folder."
            raise IndexCorruptError(msg)
        postings = Postings(len(terms), segment, n_rows=n_rows)
        rows = RowTable(arrays["labels"], arrays["live"])
        return cls(manifest, store, folder, rows, postings, arrays["lengths"], terms)

    @property
    def n_terms(self) -> int:
        """Distinct terms seen so far."""
        return len(self._terms)

    @property
    def nbytes(self) -> int:
        """Bytes held by postings, lengths and row bookkeeping (excluding the term strings)."""
        rows = self._rows
        return self._postings.nbytes + self._lengths.view.nbytes + rows.labels.nbytes + len(rows)

    # -- hooks ---------------------------------------------------------------------------
    def _prepare_add(self, embeddings: Any) -> list[Counter[str]]:
        return self.analyzer.counts(_texts(embeddings, "add"))

    def _prepare_queries(self, queries: Any) -> list[Counter[str]]:
        return self.analyzer.counts(_texts(queries, "search"))

    def _insert(self, labels: np.ndarray, batch: list[Counter[str]]) -> None:
        ids = self._term_ids
        for counts in batch:
            for term in counts:
                if term not in ids:
                    ids[term] = len(self._terms)
                    self._terms.append(term)
        self._postings.widen(_capacity(len(self._terms)))
        lengths = np.array([sum(c.values()) for c in batch], np.int64)
        indptr = np.zeros(len(batch) + 1, np.int64)
        np.cumsum([len(c) for c in batch], out=indptr[1:])
        indices = np.fromiter((ids[t] for c in batch for t in c), np.int32, int(indptr[-1]))
        values = np.fromiter((n for c in batch for n in c.values()), np.float32, len(indices))
        vocab = self._postings.vocab_size
        self._postings.append(SparseEmbeddings(indptr, indices, values, vocab))
        self._rows.append(labels)
        self._lengths.append(lengths.astype(np.float32))
        self._norm = None

    def _remove(self, labels: np.ndarray) -> None:
        self._rows.kill(labels)
        if self._rows.needs_compaction():
            kept = self._rows.compact()
            self._postings.keep(kept)
            self._lengths.replace(self._lengths.view[kept].copy())
        self._norm = None

    def _search(
        self, batch: list[Counter[str]], k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        labels, scores = self._rows.rank((self._scores(q)[None, :] for q in batch), allowed, k)
        labels[~(scores > 0)] = -1  # documents without a query term are not matches
        return labels, scores

    def _score_labels(
        self, batch: list[Counter[str]], labels: list[np.ndarray]
    ) -> list[np.ndarray]:
        return [
            self._scores(query)[self._rows.rows_of(wanted)]
            for query, wanted in zip(batch, labels, strict=True)
        ]

    def _components(self) -> Components:
        postings = self._postings.merged()
        n_terms = len(self._terms)  # the saved offsets cover the known terms only
        encoded = [term.encode("utf-8") for term in self._terms]
        arrays = {
            "term_ptr": postings.ptr[: n_terms + 1],
            "term_rows": postings.rows,
            "term_values": postings.values,
            "lengths": self._lengths.view,
            "labels": self._rows.labels,
            "live": self._rows.live,
            "term_bytes": np.frombuffer(b"".join(encoded), np.uint8),
            "term_ends": np.cumsum([len(e) for e in encoded], dtype=np.int64),
        }
        return {name: ("npy", npy_writer(array)) for name, array in arrays.items()}

    # -- scoring -------------------------------------------------------------------------
    def _scores(self, query: Counter[str]) -> np.ndarray:
        """``(n_rows,)`` float32 BM25 scores of every row (0 without a query term)."""
        out = np.zeros(len(self._rows), np.float32)
        n_docs = self._rows.n_live
        if not n_docs:
            return out
        live = None if n_docs == len(self._rows) else self._rows.live
        norms = self._row_norms()
        for term, qtf in query.items():
            if term not in self._term_ids:
                continue
            parts = self._postings.postings(self._term_ids[term])
            if live is None:
                df = sum(len(rows) for rows, _ in parts)
            else:
                df = sum(int(np.count_nonzero(live[rows])) for rows, _ in parts)
            weight = np.float32(qtf * math.log1p((n_docs - df + 0.5) / (df + 0.5)))
            for rows, tfs in parts:  # one term at a time: views, no gathered copy
                add_at(out, rows, weight * tfs / (tfs + norms[rows]))
        return out

    def _row_norms(self) -> np.ndarray:
        """``k1 * (1 - b + b * |d| / avgdl)`` per row (cached until the next add / delete)."""
        if self._norm is None:
            lengths = self._lengths.view
            live = self._rows.live
            total = float(lengths[live].sum(dtype=np.float64))
            average = total / max(self._rows.n_live, 1) or 1.0
            norm = self.k1 * (1.0 - self.b + self.b * lengths.astype(np.float64) / average)
            self._norm = norm.astype(np.float32)
        return self._norm


def _texts(value: Any, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(t, str) for t in items):
        bad = items
        if isinstance(items, Sequence):
            bad = next(t for t in items if not isinstance(t, str))
        msg = (
            f"BM25Index.{what} takes texts (a string or a list of strings); got "
            f"{type(bad).__name__} {bad!r:.60}."
        )
        raise ConfigError(msg)
    return list(items)


def _check_parameters(k1: Any, b: Any) -> None:
    ok_k1 = isinstance(k1, int | float) and not isinstance(k1, bool) and math.isfinite(k1)
    if not ok_k1 or k1 < 0:
        msg = f"k1 must be a finite number >= 0 (Lucene's default is 1.2); got {k1!r}."
        raise ConfigError(msg)
    ok_b = isinstance(b, int | float) and not isinstance(b, bool)
    if not ok_b or not 0.0 <= b <= 1.0:
        msg = f"b must be a number in [0, 1] (Lucene's default is 0.75); got {b!r}."
        raise ConfigError(msg)


def _capacity(n_terms: int) -> int:
    """Postings' vocabulary size for ``n_terms`` known terms: grows by doubling."""
    return 1 << max(10, (max(n_terms, 1) - 1).bit_length())


def _decode_terms(data: np.ndarray, ends: np.ndarray, folder: IndexFolder) -> list[str]:
    raw = data.tobytes()
    starts = [0, *ends[:-1].tolist()]
    try:
        terms = [raw[s:e].decode("utf-8") for s, e in zip(starts, ends.tolist(), strict=True)]
    except (UnicodeDecodeError, ValueError) as err:
        msg = f"{folder.path}: the BM25 term list is damaged ({err}). Restore the folder."
        raise IndexCorruptError(msg) from err
    if len(ends) and int(ends[-1]) != len(raw):
        msg = f"{folder.path}: the BM25 term list is damaged. Restore the folder."
        raise IndexCorruptError(msg)
    return terms
