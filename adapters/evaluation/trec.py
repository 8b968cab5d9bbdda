"""TREC run files: ``qid Q0 docid rank score tag``, one line per retrieved document."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from retrieval.errors import ConfigError
from retrieval.types import Hit

Run = dict[str, list[Hit]]
"""``{query_id: hits best first}``."""


def read_run(path: str | os.PathLike[str]) -> Run:
    """Read a run; each query's hits come back sorted by rank (then file order)."""
    ranked: dict[str, list[tuple[int, int, Hit]]] = {}
    file = Path(path)
    if not file.is_file():
        msg = f"Run file {str(path)!r} does not exist."
        raise ConfigError(msg)
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                msg = f"{path}:{number}: expected 'qid Q0 docid rank score tag', got {line!r}."
                raise ConfigError(msg)
            qid, _, docid, rank, score, _ = parts
            try:
                entry = (int(rank), number, Hit(docid, float(score)))
            except ValueError:
                msg = f"{path}:{number}: rank and score must be numbers, got {line!r}."
                raise ConfigError(msg) from None
            ranked.setdefault(qid, []).append(entry)
    return {
        qid: [hit for *_, hit in sorted(rows, key=lambda r: r[:2])] for qid, rows in ranked.items()
    }


def write_run(path: str | os.PathLike[str], run: Mapping[str, Sequence[Hit]], tag: str) -> None:
    """Write ``run`` (each list best first) with ranks from 1."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for qid, hits in run.items():
            for rank, hit in enumerate(hits, start=1):
                handle.write(f"{qid} Q0 {hit.id} {rank} {hit.score:.6f} {tag}\n")
