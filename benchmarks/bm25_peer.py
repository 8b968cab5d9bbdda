"""BM25Index vs bm25s (the peer): indexing time, query latency, index bytes, same top 10.

Both index the same texts from their own text (each library's own analysis: the toolkit's
Lucene-style English analyzer; bm25s' ``tokenize`` with its English stop words and the same
PyStemmer Porter stemmer) with Lucene's BM25 (k1 1.2, b 0.75), then answer the same queries
one at a time (top 10). Agreement is measured on the terms both see: bm25s is also indexed on
the toolkit's own terms, and its top 10 compared with the toolkit's.

Corpus: Cranfield's 1,400 abstracts, or ``--docs N`` synthetic passages of 40-160 words drawn
from Cranfield's running text (real word frequencies); queries: Cranfield's 225.

    .venv/bin/python benchmarks/bm25_peer.py --docs 200000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from eval_common import SHARED_DATA  # noqa: E402

from adapters.evaluation import load_beir  # noqa: E402
from indexes import BM25Index  # noqa: E402


def corpus(n_docs: int | None, texts: list[str], seed: int = 0) -> list[str]:
    if not n_docs:
        return texts
    words = [w for text in texts for w in re.findall(r"\w+", text)]
    rng = np.random.default_rng(seed)
    lengths = rng.integers(40, 161, n_docs)
    picks = rng.integers(0, len(words), int(lengths.sum()))
    out, at = [], 0
    for n in lengths.tolist():
        out.append(" ".join(words[i] for i in picks[at : at + n]))
        at += n
    return out


def timed_build(build: Any) -> tuple[Any, float]:
    """Result and seconds of ``build()``."""
    start = time.perf_counter()
    made = build()
    return made, time.perf_counter() - start


def peer_bytes(model: Any) -> int:
    """Bytes of bm25s' score matrix (its arrays; the vocabulary dict not counted)."""
    return sum(v.nbytes for v in model.scores.values() if isinstance(v, np.ndarray))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, help="synthetic passages (default: Cranfield)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    import bm25s
    import Stemmer

    ds = load_beir(SHARED_DATA / "cranfield")
    texts = corpus(args.docs, ds.doc_texts)
    ids = [f"d{i}" for i in range(len(texts))]
    queries = ds.query_texts
    stemmer = Stemmer.Stemmer("porter")

    def ours_build() -> BM25Index:
        index = BM25Index.create()
        index.add(ids, texts)
        return index

    def peer_build() -> Any:
        model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        model.index(tokens, show_progress=False)
        return model

    ours, ours_s = timed_build(ours_build)
    peer, peer_s = timed_build(peer_build)
    lat: dict[str, list[float]] = {"ours": [], "peer": []}
    for i, query in enumerate(queries):
        order = ["ours", "peer"] if i % 2 == 0 else ["peer", "ours"]
        for name in order:
            start = time.perf_counter()
            if name == "ours":
                ours.search(query, k=10)
            else:
                tokens = bm25s.tokenize(
                    [query], stopwords="en", stemmer=stemmer, show_progress=False
                )
                peer.retrieve(tokens, k=10, show_progress=False, n_threads=1)
            lat[name].append((time.perf_counter() - start) * 1000)
    # Same terms, same scores: bm25s indexed on the toolkit's terms.
    analyzer = ours.analyzer
    same = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    same.index([analyzer.terms(t) for t in texts], show_progress=False)
    agree = []
    for query in queries:
        scores = same.get_scores(analyzer.terms(query))
        top = set(np.argsort(-scores, kind="stable")[:10].tolist())
        got = {int(h.id[1:]) for h in ours.search(query, k=10)}
        positive = {d for d in top if scores[d] > 0}
        agree.append(len(got & positive) / max(len(positive), 1))
    row = {
        "docs": len(texts),
        "ours_index_s": round(ours_s, 2),
        "peer_index_s": round(peer_s, 2),
        "ours_index_mb": round(ours.nbytes / 2**20, 1),
        "peer_index_mb": round(peer_bytes(peer) / 2**20, 1),
        "ours_p50_ms": round(statistics.median(lat["ours"]), 3),
        "peer_p50_ms": round(statistics.median(lat["peer"]), 3),
        "p50_ratio_ours_over_peer": round(
            statistics.median(lat["ours"]) / statistics.median(lat["peer"]), 3
        ),
        "top10_agreement_same_terms": round(float(np.mean(agree)), 4),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(row))
    if args.json_out:
        args.json_out.write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
