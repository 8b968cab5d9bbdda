"""Request-model limits and the binary codec, ported from vLLM:

- ``tests/entrypoints/pooling/test_pooling_prompt_limit.py``: oversized input / documents /
  items / text_2 lists are refused with "<field> list length" (vLLM's cap is the env variable
  ``VLLM_MAX_COMPLETION_PROMPTS``; the toolkit's is ``ServerConfig.max_inputs``), while a single
  token-id list or a scalar is not a list of prompts. vLLM checks its pydantic request models;
  here the same bodies go through the app in-process.
- ``tests/entrypoints/pooling/openai/test_binary_encode_and_decode.py``: every ``embed_dtype`` x
  ``endianness`` round-trips a 6-D tensor through the toolkit's encoder and a decoder written
  from vLLM's format.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from adapters.server.encoding import to_bytes
from tests.vllm_peer.helpers import (
    EMBED_DTYPES,
    ENDIANNESS,
    binary_to_tensor,
    check_embeddings_close,
)

LIMIT = 5


@pytest.fixture(scope="module")
def limited(peer_models: list[tuple[list[str], Any]]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from adapters.server import ServerConfig, build_app

    with TestClient(build_app(peer_models, ServerConfig(max_inputs=LIMIT))) as client:
        yield client


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/score", {"model": "reranker", "queries": ["q"], "documents": ["d"] * 10}, "documents"),
        ("/score", {"model": "reranker", "queries": ["q"], "items": ["d"] * 10}, "items"),
        ("/score", {"model": "reranker", "text_1": "q", "text_2": ["d"] * 10}, "text_2"),
        ("/rerank", {"model": "reranker", "query": "q", "documents": ["d"] * 10}, "documents"),
        ("/pooling", {"model": "reward", "input": ["x"] * 10}, "input"),
        ("/pooling", {"model": "reward", "input": [[5]] * 10}, "input"),
        ("/classify", {"model": "classifier", "input": ["x"] * 10}, "input"),
    ],
    ids=["score_documents", "score_items", "score_text_2", "rerank_documents",
         "pooling_strings", "pooling_token_id_lists", "classify_input"],
)  # fmt: skip
def test_list_rejected(limited: Any, route: str, body: dict[str, Any], field: str) -> None:
    response = limited.post(route, json=body)
    assert response.status_code == 400
    assert f"{field}` list length" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/score", {"model": "reranker", "queries": ["q"], "documents": ["d"] * LIMIT}),
        ("/rerank", {"model": "reranker", "query": "q", "documents": ["d"] * LIMIT}),
        ("/rerank", {"model": "reranker", "query": "q", "documents": "single doc"}),
        ("/pooling", {"model": "reward", "input": [5, 6, 7, 8, 9, 10]}),
        ("/pooling", {"model": "reward", "input": ["x"] * LIMIT}),
        ("/pooling", {"model": "reward", "input": "hello world"}),
        ("/classify", {"model": "classifier", "input": ["x"] * LIMIT}),
    ],
    ids=["score_within", "rerank_within", "rerank_scalar", "single_token_id_list",
         "pooling_within", "scalar_string", "classify_within"],
)  # fmt: skip
def test_within_limit_accepted(limited: Any, route: str, body: dict[str, Any]) -> None:
    assert limited.post(route, json=body).status_code == 200


@pytest.mark.parametrize("endianness", ENDIANNESS)
@pytest.mark.parametrize("embed_dtype", EMBED_DTYPES)
def test_encode_and_decode(embed_dtype: str, endianness: str) -> None:
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        tensor = torch.rand(2, 3, 5, 7, 11, 13, generator=generator)
        raw = to_bytes(tensor, embed_dtype, endianness)
        back = binary_to_tensor(raw, tensor.shape, embed_dtype, endianness).to(torch.float32)
        # vLLM's test means "exact for float types" but its condition is a string literal
        # (always false), so every dtype gets the fp8 tolerance; here each gets its own.
        if embed_dtype == "float32":
            torch.testing.assert_close(tensor, back, atol=0, rtol=0)
        elif embed_dtype in ("float16", "bfloat16"):
            expected = tensor.to(getattr(torch, embed_dtype)).float()
            torch.testing.assert_close(expected, back, atol=0, rtol=0)
        else:
            torch.testing.assert_close(tensor, back, atol=0.1, rtol=0.1)
            check_embeddings_close(tensor.view(1, -1).tolist(), back.view(1, -1).tolist(), 1e-2)
