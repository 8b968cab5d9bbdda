"""BM25Index: scores equal an independent BM25 (bm25s, Lucene's variant) on the same terms,
through appends, a growing vocabulary, upserts, deletes and compaction, save and reopen; the
analyzer; bad input."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

from indexes import Analyzer, BM25Index, rows
from retrieval import ConfigError

WORDS = (
    "shock wave boundary layer flow supersonic hypersonic heat transfer pressure cone wing "
    "the of and a to in is laminar turbulent mach number nozzle jet plate cylinder drag lift "
    "running runs ran flows flowing waves layers transition separated separation stream"
).split()


def _texts(n: int, seed: int, vocab: list[str] | None = None) -> list[str]:
    rng = np.random.default_rng(seed)
    words = vocab or WORDS
    # Zipf-like word frequencies, lengths 1-40: real-looking postings and length spread.
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    return [" ".join(rng.choice(words, size=int(rng.integers(1, 41)), p=p)) for _ in range(n)]


def _oracle(index: BM25Index, docs: dict[str, str], query: str) -> dict[str, float]:
    """bm25s's Lucene BM25 over ``docs`` (the live documents) on the index's own terms."""
    ids = list(docs)
    model = bm25s.BM25(method="lucene", k1=index.k1, b=index.b)
    model.index([index.analyzer.terms(docs[i]) for i in ids], show_progress=False)
    scores = model.get_scores(index.analyzer.terms(query))
    return {i: float(s) for i, s in zip(ids, scores, strict=True) if s > 0}


def _check(index: BM25Index, docs: dict[str, str], queries: list[str]) -> None:
    for query in queries:
        want = _oracle(index, docs, query)
        hits = index.search(query, k=len(docs) + 5)
        got = {h.id: h.score for h in hits}
        assert set(got) == set(want), query  # exactly the documents holding a query term
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
        assert [h.score for h in hits] == sorted(got.values(), reverse=True)


QUERIES = [
    "supersonic shock waves",
    "heat transfer in the laminar boundary layer",
    "running flows",
    "mach mach number",  # a repeated query term counts twice, as in Lucene
    "drag",
    "words nobody wrote",
]


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0), (0.0, 0.0)])
def test_scores_equal_bm25s_through_appends(k1: float, b: float) -> None:
    index = BM25Index.create(k1=k1, b=b)
    docs: dict[str, str] = {}
    for batch in range(4):  # several segments; later batches bring new words
        vocab = WORDS + [f"term{batch}x{j}" for j in range(batch * 5)]
        texts = _texts(60, seed=batch, vocab=vocab)
        ids = [f"d{batch}-{i}" for i in range(len(texts))]
        index.add(ids, texts)
        docs.update(zip(ids, texts, strict=True))
    assert index.n_terms > len(WORDS)  # the vocabulary grew past the first batch's
    _check(index, docs, [*QUERIES, "term3x4 term1x0 shock"])


def test_upsert_delete_and_compaction_keep_exact_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rows, "_MIN_CAPACITY", 8)  # compact after a few deletes
    index = BM25Index.create()
    texts = _texts(120, seed=7)
    docs = {f"d{i}": t for i, t in enumerate(texts)}
    index.add(list(docs), texts)
    index.add(["d3", "d4"], ["a wholly new shock text", "laminar laminar laminar"])
    docs |= {"d3": "a wholly new shock text", "d4": "laminar laminar laminar"}
    _check(index, docs, QUERIES)
    gone = [f"d{i}" for i in range(0, 120, 2)]  # half: dead rows outnumber live ones
    index.delete(gone)
    for doc_id in gone:
        docs.pop(doc_id)
    assert len(index) == len(docs)
    _check(index, docs, [*QUERIES, "wholly new"])  # N, df and avgdl of the live documents


def test_save_open_then_grow(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    index = BM25Index.create(path, k1=1.5, b=0.6, language="english")
    texts = _texts(80, seed=3)
    docs = {f"d{i}": t for i, t in enumerate(texts)}
    index.add(list(docs), texts, [{"n": i} for i in range(80)])
    index.save()
    opened = BM25Index.open(path)
    assert (opened.k1, opened.b, opened.analyzer.language) == (1.5, 0.6, "english")
    _check(opened, docs, QUERIES)
    assert opened.search("shock", k=3, filter={"n": {"$lt": 10}})[0].metadata["n"] < 10
    more = {"e1": "brand new vocabulary words here", "e2": "shock tube experiments"}
    opened.add(list(more), list(more.values()))
    docs |= more
    _check(opened, docs, [*QUERIES, "vocabulary experiments"])
    opened.save()
    _check(BM25Index.open(path), docs, ["vocabulary experiments shock"])


def test_search_returns_only_matches_and_score_ids_agrees() -> None:
    index = BM25Index.create()
    index.add(["a", "b", "c"], ["shock waves", "heat transfer", "the and of"])
    hits = index.search("shock heat", k=10)
    assert sorted(h.id for h in hits) == ["a", "b"]  # c holds no query term
    assert index.search("nothing matches", k=10) == []
    assert index.search("", k=10) == []
    scored = index.score_ids(["shock heat"], [["c", "b", "a"]])[0]
    by_id = {h.id: h.score for h in hits}
    assert scored.tolist() == pytest.approx([0.0, by_id["b"], by_id["a"]])
    with pytest.raises(ConfigError, match="holds no item 'zzz'"):
        index.score_ids(["shock"], [["zzz"]])


def test_bad_input_names_the_value_and_the_fix() -> None:
    with pytest.raises(ConfigError, match="k1 must be"):
        BM25Index.create(k1=-1)
    with pytest.raises(ConfigError, match=r"b must be a number in \[0, 1\]"):
        BM25Index.create(b=1.5)
    with pytest.raises(ConfigError, match="Unknown analyzer language 'klingon'"):
        BM25Index.create(language="klingon")
    index = BM25Index.create()
    with pytest.raises(ConfigError, match="takes texts"):
        index.add(["a"], [np.ones(3)])
    with pytest.raises(ConfigError, match="takes texts"):
        index.search(42)  # type: ignore[arg-type]
    assert len(index) == 0  # nothing was added by the refused call


def test_analyzer_follows_lucenes_english_chain() -> None:
    english = Analyzer()
    assert english.terms("The Shock-Waves' of a jet's flow ARE running") == [
        "shock",
        "wave",
        "jet",
        "flow",
        "run",
    ]
    assert english.terms("Über STRASSE straße") == ["über", "strass", "strass"]  # case-folded
    assert Analyzer("none").terms("The running Dogs") == ["the", "running", "dogs"]
    assert Analyzer("german").terms("Häuser laufen") == ["haus", "lauf"]
    assert english.terms("x" * 200) == ["x" * 64]  # absurdly long tokens are cut


def test_concurrent_searches_agree_with_one_thread() -> None:
    """Queries are analysed on many threads at once (a server): one stemmer per thread."""
    from concurrent.futures import ThreadPoolExecutor

    index = BM25Index.create()
    texts = _texts(200, seed=11)
    index.add([f"d{i}" for i in range(200)], texts)
    queries = [*QUERIES, *texts[:40]] * 3
    alone = [[(h.id, h.score) for h in index.search(q, k=5)] for q in queries]
    with ThreadPoolExecutor(8) as pool:
        together = list(
            pool.map(lambda q: [(h.id, h.score) for h in index.search(q, k=5)], queries)
        )
    assert together == alone
