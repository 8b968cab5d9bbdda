"""The default hybrid's lexical part: a BM25 index over the chunk texts, kept by every hybrid
collection (no model needed), searched as a first stage, fused with the model's stages, and
kept exact through save, reopen, adds and deletes."""

from __future__ import annotations

from pathlib import Path

import bm25s
import pytest

from adapters.collection import Collection, Encoder, PipelineConfig
from indexes import Analyzer, BM25Index
from retrieval import ConfigError, Hit

DOCS = {
    "a": "Shock waves form ahead of a blunt body in supersonic flow.",
    "b": "The laminar boundary layer thickens along a flat plate.",
    "c": "Part number XJ9000 is the turbocharger of the test rig.",
    "d": "Heat transfer to a cone in hypersonic flow was measured.",
    "e": "Cats sleep for most of the day.",
}


def _bm25s_scores(texts: dict[str, str], query: str) -> dict[str, float]:
    """An independent BM25 (bm25s, Lucene's variant, k1 1.2, b 0.75) on the same terms."""
    analyzer = Analyzer()
    ids = list(texts)
    model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    model.index([analyzer.terms(texts[i]) for i in ids], show_progress=False)
    scores = model.get_scores(analyzer.terms(query))
    return {i: float(s) for i, s in zip(ids, scores, strict=True) if s > 0}


def _config(path: Path) -> PipelineConfig:
    return PipelineConfig(pipeline="hybrid", model=str(path), device="cpu")


def test_a_hybrid_keeps_bm25_and_fuses_it(real_default_path: Path, tmp_path: Path) -> None:
    collection = Collection.create(tmp_path / "kb", _config(real_default_path))
    assert [p.stage for p in collection.parts] == ["dense", "bm25", "maxsim"]
    collection.add(list(DOCS), list(DOCS.values()))
    collection.save()
    # An exact rare word: BM25 finds its chunk, and every hit that holds a query word
    # carries the BM25 score an independent implementation gives it.
    query = "XJ9000 turbocharger"
    hits = collection.search(query, k=5)
    assert hits[0].id == "c"
    want = _bm25s_scores(DOCS, query)
    got = {h.id: h.scores["bm25"] for h in hits if "bm25" in h.scores}
    assert got == pytest.approx(want, rel=1e-5)
    assert {"dense", "maxsim", "zscore"} <= set(hits[0].scores)
    assert hits[0].describe_score().endswith("(zscore)")


def test_bm25_stays_exact_through_reopen_add_delete(
    real_default_path: Path, tmp_path: Path
) -> None:
    collection = Collection.create(tmp_path / "kb2", _config(real_default_path))
    collection.add(list(DOCS), list(DOCS.values()))
    collection.save()
    reopened = Collection.open(tmp_path / "kb2")
    more = {"f": "Supersonic flow over a wedge makes an oblique shock wave."}
    reopened.add(list(more), list(more.values()))
    reopened.delete(["e"])
    reopened.save()
    texts = {k: v for k, v in {**DOCS, **more}.items() if k != "e"}
    final = Collection.open(tmp_path / "kb2")
    (lexical,) = [p.index for p in final.parts if p.stage == "bm25"]
    assert isinstance(lexical, BM25Index)
    query = "supersonic shock wave flow"
    got = {h.id: h.score for h in lexical.search(query, k=10)}
    assert got == pytest.approx(_bm25s_scores(texts, query), rel=1e-5)


def test_collections_without_bm25_search_as_before(real_default_path: Path) -> None:
    """A hybrid made before BM25 (its encoder records no ``lexical``) keeps its stages."""
    llm = Collection(_config(real_default_path)).encoder.llm
    older = Collection(_config(real_default_path), encoder=Encoder(llm, ("dense", "multivector")))
    assert [p.stage for p in older.parts] == ["dense", "maxsim"]
    older.add(list(DOCS), list(DOCS.values()))
    hits = older.search("shock waves", k=3)
    assert set(hits[0].scores) == {"dense", "maxsim", "zscore"}


def test_rerank_uses_the_bm25_index_and_the_candidates_scores(real_default_path: Path) -> None:
    collection = Collection(_config(real_default_path))
    collection.add(list(DOCS), list(DOCS.values()))
    reranker = collection.candidate_reranker()
    given = [Hit("a", 7.0), Hit("d", 5.0), Hit("e", 1.0)]
    hits = reranker.rerank("hypersonic heat transfer", given, source="run")
    assert {h.id for h in hits} == {"a", "d", "e"}
    by_id = {h.id: h for h in hits}
    # BM25 over the whole collection (its statistics), 0 for a chunk without a query word
    want = _bm25s_scores(DOCS, "hypersonic heat transfer")
    assert by_id["d"].scores["bm25"] == pytest.approx(want["d"], rel=1e-5)
    assert by_id["e"].scores["bm25"] == 0.0
    assert set(by_id["d"].scores) == {"run", "dense", "bm25", "maxsim", "zscore"}
    assert hits[0].id == "d"


def test_bm25_options_from_the_pipeline_file(real_default_path: Path, tmp_path: Path) -> None:
    toml = tmp_path / "pipeline.toml"
    toml.write_text(
        f'pipeline = "hybrid"\nmodel = "{real_default_path}"\ndevice = "cpu"\n'
        'bm25 = { language = "german", k1 = 0.9, b = 0.4 }\n',
        encoding="utf-8",
    )
    collection = Collection.create(tmp_path / "kb", PipelineConfig.from_toml(toml))
    collection.add(["h"], ["Die Häuser laufen"])
    collection.save()
    (lexical,) = [p.index for p in Collection.open(tmp_path / "kb").parts if p.stage == "bm25"]
    assert (lexical.k1, lexical.b, lexical.analyzer.language) == (0.9, 0.4, "german")
    assert [h.id for h in lexical.search("Haus", k=1)] == ["h"]  # German stems
    for bad, message in (
        ({"lang": "de"}, r"Unknown bm25 options \['lang'\]. Valid: k1, b, language"),
        ({"b": 2}, r"b must be a number in \[0, 1\]"),
        ({"language": "klingon"}, "Unknown analyzer language 'klingon'"),
    ):
        with pytest.raises(ConfigError, match=message):
            PipelineConfig(pipeline="hybrid", bm25=bad)
