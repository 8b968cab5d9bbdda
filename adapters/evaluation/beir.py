"""Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.errors import ConfigError


@dataclass(frozen=True)
class BeirDataset:
    """One BEIR data set; only queries with judgments are kept (as BEIR evaluates)."""

    name: str
    """The folder name (``cranfield``, ``trec-dl19``)."""
    doc_ids: list[str]
    """Corpus ids in file order."""
    doc_texts: list[str]
    """``"title text"`` of each document (title omitted when empty)."""
    query_ids: list[str]
    """Ids of the judged queries, in file order."""
    query_texts: list[str]
    """Their texts."""
    qrels: dict[str, dict[str, int]]
    """``{query_id: {doc_id: graded relevance}}``."""

    def texts_by_id(self) -> dict[str, str]:
        return dict(zip(self.doc_ids, self.doc_texts, strict=True))


def load_beir(
    folder: str | os.PathLike[str],
    *,
    split: str = "test",
    max_queries: int | None = None,
    corpus: bool = True,
) -> BeirDataset:
    """Load ``folder``; ``max_queries`` keeps the first judged queries (for quick runs).
    ``corpus=False`` reads only the queries and judgments (to evaluate a collection built
    earlier: ``doc_ids`` / ``doc_texts`` stay empty)."""
    root = Path(folder)
    needed = ("corpus.jsonl",) if corpus else ()
    for name in (*needed, "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / name).is_file():
            msg = (
                f"{str(root)!r} is not a BEIR folder: {name} is missing (expected "
                f"{'corpus.jsonl, ' if corpus else ''}queries.jsonl and qrels/{split}.tsv)."
            )
            raise ConfigError(msg)
    qrels = read_qrels(root / "qrels" / f"{split}.tsv")
    doc_ids, doc_texts = [], []
    for row in _jsonl(root / "corpus.jsonl") if corpus else ():
        doc_ids.append(str(row["_id"]))
        doc_texts.append(f"{row.get('title') or ''} {row.get('text') or ''}".strip())
    query_ids, query_texts = [], []
    for row in _jsonl(root / "queries.jsonl"):
        if str(row["_id"]) in qrels:
            query_ids.append(str(row["_id"]))
            query_texts.append(str(row["text"]))
    if max_queries is not None:
        query_ids, query_texts = query_ids[:max_queries], query_texts[:max_queries]
    kept = {q: qrels[q] for q in query_ids}
    return BeirDataset(root.name, doc_ids, doc_texts, query_ids, query_texts, kept)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id<TAB>corpus-id<TAB>score`` lines after a header line."""
    qrels: dict[str, dict[str, int]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            msg = f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score', got {line!r}."
            raise ConfigError(msg)
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    msg = f"{path}:{number} is not valid JSON: {err}."
                    raise ConfigError(msg) from None
