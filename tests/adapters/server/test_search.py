"""``POST /v1/search`` over a saved FAISS index: hits equal the index's own search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from adapters.server import build_app

DOCS = {
    "d1": ("Wings produce lift from the air pressure difference.", 2019),
    "d2": ("A cat sleeps on the warm street at night.", 2021),
    "d3": ("Boundary layers change the pressure on an aerofoil.", 2021),
    "d4": ("Cooking pasta needs salted boiling water.", 2018),
}
QUERY = "air pressure on a wing"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> Path:
    pytest.importorskip("faiss")
    from indexes import FaissIndex

    path = tmp_path_factory.mktemp("srv_index") / "idx"
    texts = [text for text, _ in DOCS.values()]
    vectors = np.array([o.outputs.embedding for o in minilm.embed(texts, use_tqdm=False)])
    index = FaissIndex.create(path, dim=384, kind="flat", metric="cosine")
    metadata = [{"text": text, "year": year} for text, year in DOCS.values()]
    index.add(list(DOCS), vectors, metadata)
    index.save()
    return path


@pytest.fixture(scope="module")
def search_client(index_dir: Path, minilm: Any, reranker: Any) -> Any:
    with TestClient(
        build_app([(["minilm"], minilm), (["reranker"], reranker)], index=str(index_dir))
    ) as client:
        yield client


def test_search_equals_index_search(
    search_client: TestClient, index_dir: Path, minilm: Any
) -> None:
    from indexes import FaissIndex

    body = search_client.post("/v1/search", json={"query": QUERY, "k": 3}).json()
    query = np.array(minilm.embed(QUERY, use_tqdm=False)[0].outputs.embedding)[None, :]
    expected = FaissIndex.open(index_dir).search(query, k=3)
    assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
    np.testing.assert_allclose(
        [h["score"] for h in body["hits"]], [h.score for h in expected], atol=1e-5
    )
    assert body["hits"][0]["metadata"]["text"] == DOCS[expected[0].id][0]
    assert body["usage"]["prompt_tokens"] > 0


def test_search_filter_and_rerank(search_client: TestClient, reranker: Any) -> None:
    filtered = search_client.post(
        "/v1/search", json={"query": QUERY, "k": 4, "filter": {"year": 2021}}
    ).json()
    assert {h["id"] for h in filtered["hits"]} == {"d2", "d3"}
    body = {"query": QUERY, "k": 4, "rerank_model": "reranker", "rerank_top_n": 2}
    reranked = search_client.post("/v1/search", json=body).json()["hits"]
    texts = [text for text, _ in DOCS.values()]
    scores = dict(
        zip(
            DOCS,
            (o.outputs.score for o in reranker.score(QUERY, texts, use_tqdm=False)),
            strict=True,
        )
    )
    best = sorted(scores, key=scores.__getitem__, reverse=True)[:2]
    assert [h["id"] for h in reranked] == best
    assert all("first_stage_score" in h for h in reranked)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"query": ""}, 400, "non-empty string"),
        ({"query": "x", "k": 0}, 400, "k"),
        ({"query": "x", "filter": {"year": {"$near": 3}}}, 400, "$near"),
        ({"query": "x", "rerank_model": "nope"}, 404, "does not exist"),
    ],
)
def test_search_bad_requests(
    search_client: TestClient, body: Any, status: int, message: str
) -> None:
    response = search_client.post("/v1/search", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_search_over_a_saved_pipeline(tmp_path: Path, st_legacy_mean: Path, minilm: Any) -> None:
    """``--index`` on a saved ``Pipeline`` (a collection) runs its ``retrieval.Retriever``."""
    pytest.importorskip("faiss")
    from adapters.collection import Pipeline, PipelineConfig

    config = PipelineConfig(pipeline="hybrid", model=str(st_legacy_mean), device="cpu")
    pipe = Pipeline(config, path=tmp_path / "p")
    metadata = [{"year": year} for _, year in DOCS.values()]
    pipe.add(list(DOCS), [text for text, _ in DOCS.values()], metadata)
    pipe.save()
    expected = Pipeline.open(tmp_path / "p").retriever.search(QUERY, k=2, filter={"year": 2021})
    app = build_app([(["minilm"], minilm)], index=str(tmp_path / "p"))
    with TestClient(app) as client:
        body = {"query": QUERY, "k": 2, "filter": {"year": 2021}}
        hits = client.post("/v1/search", json=body).json()["hits"]
    assert [h["id"] for h in hits] == [h.id for h in expected]
    assert [h["scores"] for h in hits] == [pytest.approx(h.scores) for h in expected]
    # the default hybrid: dense candidates rescored by MaxSim, every score fused
    assert set(hits[0]["scores"]) == {"dense", "maxsim", "zscore"}
    assert hits[0]["kind"] == "zscore"
    assert {h["metadata"]["year"] for h in hits} == {2021}
