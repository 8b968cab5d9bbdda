"""Truncation, Matryoshka dimensions and long inputs over HTTP, ported from vLLM:

- ``tests/entrypoints/pooling/basic/test_truncation.py`` (all-MiniLM-L12-v2 at
  ``--max-model-len 128``; here all-MiniLM-L6-v2 loaded with ``max_model_len=128``),
- ``tests/entrypoints/pooling/embed/test_online_dimensions.py`` (e5-small without Matryoshka;
  snowflake-arctic-embed-m-v1.5 with ``--hf_overrides '{"matryoshka_dimensions":[256]}'``,
  here MiniLM with the same override),
- ``tests/entrypoints/pooling/embed/test_online_long_text.py`` (``--pooler-config`` MEAN +
  ``enable_chunked_processing`` + ``max_embed_len`` 10000 on a 512-token model; MiniLM is 256).
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from tests.vllm_peer.conftest import MINILM
from tests.vllm_peer.helpers import check_embeddings_close

CALCULUS = """Immerse yourself in the enchanting chronicle of calculus, a
    mathematical domain that has radically transformed our comprehension of
    change and motion. Despite its roots in ancient civilizations, the
    formal birth of calculus predominantly occurred in the 17th century,
    primarily under the influential guidance of Sir Isaac Newton and Gottfried
    Wilhelm Leibniz. The earliest traces of calculus concepts are found in
    ancient Greek mathematics,most notably in the works of Eudoxus and
    Archimedes, around 300 BCE. They utilized the 'method of exhaustion'-a
    technique for computing areas and volumes through the use of finite sums.
    This methodology laid crucial foundational work for integral calculus.
    In the 17th century, both Newton and Leibniz independently pioneered
    calculus, each contributing unique perspectives that would shape this new
    field."""
MAX_MODEL_LEN = 128


# -- basic/test_truncation.py ----------------------------------------------------------------
def test_smaller_truncation_size(openai_client: Any) -> None:
    body = {"model": "minilm-128", "input": CALCULUS, "truncate_prompt_tokens": 10}
    response = openai_client.post(path="embeddings", cast_to=object, body=body)
    assert response["usage"]["prompt_tokens"] == 10


def test_bigger_truncation_size(openai_client: Any) -> None:
    import openai

    body = {"model": "minilm-128", "input": CALCULUS, "truncate_prompt_tokens": MAX_MODEL_LEN + 1}
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.post(path="embeddings", cast_to=object, body=body)
    assert err.value.status_code == 400
    error = err.value.response.json()["error"]
    assert error["type"] == "BadRequestError"
    assert error["message"] == (
        "truncate_prompt_tokens value is greater than max_model_len. "
        "Please request a smaller truncation size."
    )


def test_max_truncation_size(openai_client: Any) -> None:
    body = {"model": "minilm-128", "input": CALCULUS, "truncate_prompt_tokens": -1}
    response = openai_client.post(path="embeddings", cast_to=object, body=body)
    assert response["usage"]["prompt_tokens"] == MAX_MODEL_LEN


# -- embed/test_online_dimensions.py::test_matryoshka ------------------------------------------
TEXTS = ["The chef prepared a delicious meal."]


def _request_and_check(openai_client: Any, st_minilm: Any, model: str, dims: int | None) -> None:
    prompts = TEXTS * 3
    response = openai_client.embeddings.create(
        model=model, input=prompts, dimensions=dims, encoding_format="float"
    )
    assert response.id is not None
    assert len(response.data) == 3
    assert len(response.data[0].embedding) > 0
    assert response.usage.completion_tokens == 0
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens > 0
    if dims is not None:
        assert len(response.data[0].embedding) == dims
    # run_embedding_correctness_test with matryoshka_fy: truncate, then L2-normalise.
    expected = torch.tensor(st_minilm.encode(prompts, convert_to_numpy=True))
    if dims:
        expected = F.normalize(expected[..., :dims], p=2, dim=1)
    check_embeddings_close(expected.tolist(), [d.embedding for d in response.data], tol=1e-2)


def test_matryoshka_not_supported(openai_client: Any, st_minilm: Any) -> None:
    import openai

    _request_and_check(openai_client, st_minilm, MINILM, None)
    for dims in (-1, 16):
        with pytest.raises(openai.BadRequestError):
            _request_and_check(openai_client, st_minilm, MINILM, dims)


def test_matryoshka_supported(openai_client: Any, st_minilm: Any) -> None:
    import openai

    for dims in (None, 256):
        _request_and_check(openai_client, st_minilm, "minilm-mrl", dims)
    for dims in (-1, 5):
        with pytest.raises(openai.BadRequestError):
            _request_and_check(openai_client, st_minilm, "minilm-mrl", dims)


# -- embed/test_online_long_text.py ------------------------------------------------------------
WORDS = (
    "the and you they this that these those create build develop design implement execute "
    "analyze process generate calculate evaluate optimize transform integrate configure deploy "
    "monitor manage discover explore system application software hardware network database "
    "algorithm model framework platform interface protocol architecture component module "
    "service technology innovation solution data information knowledge pattern analysis "
    "research development engineering science project team organization business market "
    "customer user product feature function report result impact benefit challenge problem"
).split()


def _random_text(word_count: int, seed: int) -> str:
    """vLLM's ``_generate_random_text``: common words, a period every 10-20 words."""
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(word_count)]
    out = []
    for i, word in enumerate(words):
        out.append(word)
        if (i + 1) % rng.randint(10, 20) == 0 and i < len(words) - 1:
            out[-1] += "."
    return " ".join(out)


LONG_1500 = _random_text(1500, seed=1)
LONG_2500 = _random_text(2500, seed=2)


def _check_vector(vector: list[float]) -> None:
    assert len(vector) == 384
    assert all(isinstance(x, float) for x in vector)
    assert not all(x == 0 for x in vector)


@pytest.mark.parametrize(
    ("text", "words", "tokens"), [(LONG_1500, 1400, 800), (LONG_2500, 2300, 1500)]
)
def test_long_text_embedding(openai_client: Any, text: str, words: int, tokens: int) -> None:
    assert len(text.split()) >= words
    response = openai_client.embeddings.create(
        model="minilm-chunked", input=[text], encoding_format="float"
    )
    assert response.id is not None
    assert len(response.data) == 1
    assert response.usage.completion_tokens == 0
    assert response.usage.prompt_tokens > tokens
    assert response.usage.total_tokens == response.usage.prompt_tokens
    _check_vector(response.data[0].embedding)


def test_batch_long_text_embedding(openai_client: Any) -> None:
    texts = [LONG_1500, LONG_2500, "This is a short text test."]
    response = openai_client.embeddings.create(
        model="minilm-chunked", input=texts, encoding_format="float"
    )
    assert response.id is not None
    assert len(response.data) == 3
    for i, item in enumerate(response.data):
        assert item.index == i
        _check_vector(item.embedding)
    assert response.usage.completion_tokens == 0
    assert response.usage.prompt_tokens > 1000
    assert response.usage.total_tokens == response.usage.prompt_tokens


def test_chunked_vs_normal_consistency(openai_client: Any) -> None:
    short = (
        "Artificial intelligence technology is changing our world, "
        "bringing unprecedented opportunities and challenges."
    )
    response = openai_client.embeddings.create(
        model="minilm-chunked", input=[short], encoding_format="float"
    )
    assert response.id is not None
    assert len(response.data) == 1
    assert response.usage.completion_tokens == 0
    assert response.usage.prompt_tokens < 512
    assert response.usage.total_tokens == response.usage.prompt_tokens
    _check_vector(response.data[0].embedding)


def test_chunked_processing_response_format(openai_client: Any) -> None:
    response = openai_client.embeddings.create(
        model="minilm-chunked", input=[LONG_1500], encoding_format="float"
    )
    assert response.id is not None
    assert len(response.data) == 1
    assert response.data[0].object == "embedding"
    assert response.data[0].index == 0
    norm = math.sqrt(sum(x * x for x in response.data[0].embedding))
    assert 0.8 < norm < 1.2
