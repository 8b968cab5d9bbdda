"""The official ``openai`` and ``cohere`` SDKs against a real uvicorn server on loopback."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

TEXTS = ["what is the air pressure on a wing", "a cat sleeps on the street"]
DOCS = ["a cat on the street", "the wing lift and air flow", "pressure and speed"]


def _expected(llm: Any, texts: list[str]) -> np.ndarray:
    return np.array([o.outputs.embedding for o in llm.embed(texts, use_tqdm=False)])


@pytest.fixture(scope="module")
def openai_client(server_url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{server_url}/v1", api_key="EMPTY", max_retries=0, timeout=30)


def test_openai_default_is_base64_and_decodes(openai_client: Any, minilm: Any) -> None:
    result = openai_client.embeddings.create(model="minilm", input=TEXTS)  # SDK sends base64
    got = np.array([d.embedding for d in result.data])
    np.testing.assert_allclose(got, _expected(minilm, TEXTS), atol=1e-6)
    assert result.usage.prompt_tokens > 0


def test_openai_float_and_token_ids(openai_client: Any, minilm: Any) -> None:
    floats = openai_client.embeddings.create(
        model="minilm", input=TEXTS[0], encoding_format="float"
    )
    np.testing.assert_allclose(floats.data[0].embedding, _expected(minilm, TEXTS[:1])[0], atol=1e-6)
    ids = minilm.get_tokenizer()(TEXTS[1])["input_ids"]
    by_ids = openai_client.embeddings.create(model="minilm", input=[ids])
    np.testing.assert_allclose(by_ids.data[0].embedding, _expected(minilm, TEXTS[1:])[0], atol=1e-6)


def test_openai_errors_map_to_sdk_exceptions(openai_client: Any) -> None:
    import openai

    with pytest.raises(openai.NotFoundError, match="does not exist"):
        openai_client.embeddings.create(model="no-such-model", input="x")
    with pytest.raises(openai.BadRequestError, match="matryoshka") as info:
        openai_client.embeddings.create(model="minilm", input="x", dimensions=8)
    assert info.value.status_code == 400
    assert info.value.body["type"] == "BadRequestError"
    models = [m.id for m in openai_client.models.list()]
    assert "minilm" in models


async def test_async_openai_concurrent(server_url: str, minilm: Any) -> None:
    import asyncio

    import openai

    client = openai.AsyncOpenAI(base_url=f"{server_url}/v1", api_key="EMPTY", max_retries=0)
    results = await asyncio.gather(
        *(client.embeddings.create(model="minilm", input=t) for t in TEXTS * 4)
    )
    await client.close()
    expected = _expected(minilm, TEXTS)
    for i, result in enumerate(results):
        np.testing.assert_allclose(result.data[0].embedding, expected[i % 2], atol=1e-5)


def _reference_order(reranker: Any) -> tuple[list[int], list[float]]:
    scores = [o.outputs.score for o in reranker.score("air pressure", DOCS, use_tqdm=False)]
    return sorted(range(3), key=lambda i: scores[i], reverse=True), scores


def test_cohere_v2_rerank(server_url: str, reranker: Any) -> None:
    import cohere

    client = cohere.ClientV2(api_key="EMPTY", base_url=server_url, timeout=30)
    result = client.rerank(model="reranker", query="air pressure", documents=DOCS, top_n=2)
    order, scores = _reference_order(reranker)
    assert [r.index for r in result.results] == order[:2]
    np.testing.assert_allclose(
        [r.relevance_score for r in result.results], [scores[i] for i in order[:2]], atol=1e-6
    )


def test_cohere_v1_rerank_returns_documents(server_url: str, reranker: Any) -> None:
    import cohere

    client = cohere.Client(api_key="EMPTY", base_url=server_url, timeout=30)
    result = client.rerank(
        model="reranker", query="air pressure", documents=DOCS, top_n=3, return_documents=True
    )
    order, _ = _reference_order(reranker)
    assert [r.index for r in result.results] == order
    assert [r.document.text for r in result.results] == [DOCS[i] for i in order]


def test_readme_http_example_runs(server_url: str) -> None:
    """The README's server example, pointed at this test server."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## HTTP server\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("http://127.0.0.1:8000", server_url).replace("RERANKER", "reranker")
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert len(namespace["vectors"].data) == 2
    assert [r.index for r in namespace["reranked"].results] in ([0], [1])
