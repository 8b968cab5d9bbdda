"""Hybrid over HTTP. BGE-M3: dense + sparse ({token_id, weight, token}) + ColBERT in one request,
equal to the in-process one-pass ``embed_hybrid``, and the sparse-only task; an embedding
model: dense + token vectors, no lexical part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from adapters.server import build_app
from tests.tiny_models import make_family

TEXTS = ["what is the air pressure on a wing", "a cat sleeps on the street at night"]


@pytest.fixture(scope="module")
def m3(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from encoders import LLM

    folder = make_family(tmp_path_factory.mktemp("srv_m3"), "roberta", "model", seed=11)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "xlm-roberta"
    config["architectures"] = ["XLMRobertaModel"]
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(12)
    # The real checkpoint's format: nn.Linear state dicts saved with torch.save.
    torch.save(torch.nn.Linear(32, 32).state_dict(), Path(folder) / "colbert_linear.pt")
    torch.save(torch.nn.Linear(32, 1).state_dict(), Path(folder) / "sparse_linear.pt")
    return LLM(str(folder), device="cpu", hf_overrides={"architectures": ["BgeM3EmbeddingModel"]})


def test_hybrid_and_sparse_in_one_request(m3: Any) -> None:
    with TestClient(build_app([(["bge-m3"], m3)])) as client:
        body = client.post("/pooling", json={"input": TEXTS, "task": "hybrid"}).json()
        sparse = client.post("/pooling", json={"input": TEXTS, "task": "sparse"}).json()
        tokens = client.post("/pooling", json={"input": TEXTS[0], "task": "token_classify"})
    expected = m3.embed_hybrid(TEXTS, use_tqdm=False)
    for item, sparse_item, out in zip(body["data"], sparse["data"], expected, strict=True):
        assert item["object"] == "hybrid-embedding"
        np.testing.assert_allclose(item["dense"], out.outputs.dense, atol=1e-6)
        np.testing.assert_allclose(
            item["multi_vector"], out.outputs.multi_vector.numpy(), atol=1e-6
        )
        assert item["sparse_embedding"] == out.outputs.sparse.to_dict()
        assert set(item["sparse_embedding"][0]) == {"token_id", "weight", "token"}
        assert sparse_item["object"] == "sparse-embedding"
        assert [
            t["token_id"] for t in sparse_item["sparse_embedding"]
        ] == out.outputs.sparse.indices
    assert tokens.status_code == 200
    weights = m3.encode(TEXTS[0], pooling_task="token_classify", use_tqdm=False)[0].outputs.data
    np.testing.assert_allclose(tokens.json()["data"][0]["data"], weights.numpy(), atol=1e-6)


def test_hybrid_on_an_embedding_model_has_no_lexical_part(minilm: Any) -> None:
    with TestClient(build_app([(["minilm"], minilm)])) as client:
        body = client.post("/pooling", json={"input": TEXTS, "task": "hybrid"}).json()
    dense = minilm.embed(TEXTS, use_tqdm=False)
    tokens = minilm.encode(TEXTS, pooling_task="token_embed", use_tqdm=False)
    for item, d, t in zip(body["data"], dense, tokens, strict=True):
        assert item["sparse_embedding"] is None
        np.testing.assert_allclose(item["dense"], d.outputs.embedding, atol=1e-6)
        np.testing.assert_allclose(item["multi_vector"], t.outputs.data.numpy(), atol=1e-6)
