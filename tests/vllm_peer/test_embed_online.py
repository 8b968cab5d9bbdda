"""Ported from vLLM ``tests/entrypoints/pooling/embed/test_online.py`` (and the usage checks of
``embed/test_usage_policy.py``): the Embeddings API through the real ``openai`` client and raw
HTTP. The served model is the real all-MiniLM-L6-v2 (vLLM uses multilingual-e5-small);
token ids and counts come from the model's own HF tokenizer instead of e5's literals, and
sentence-transformers on the same folder is the reference vLLM's ``hf_runner`` is."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.vllm_peer.conftest import DUMMY_CHAT_TEMPLATE, MINILM
from tests.vllm_peer.helpers import (
    EMBED_DTYPES,
    ENDIANNESS,
    binary_to_tensor,
    check_embeddings_close,
    decode_items,
    fixed_items,
)

INPUT_TEXT = "The best thing about vLLM is that it supports many different models"
MESSAGES = [
    {"role": "user", "content": "The cat sat on the mat."},
    {"role": "assistant", "content": "A feline was resting on a rug."},
    {"role": "user", "content": "Stars twinkle brightly in the night sky."},
]


@pytest.fixture(scope="module")
def input_tokens(minilm_tokenizer: Any) -> list[int]:
    return list(minilm_tokenizer(INPUT_TEXT)["input_ids"])


def correctness(st_model: Any, texts: list[str], got: list[list[float]]) -> None:
    """vLLM's ``run_embedding_correctness_test``: sentence-transformers vs server, tol 1e-2."""
    expected = st_model.encode(texts, normalize_embeddings=False, convert_to_numpy=True)
    check_embeddings_close(expected.tolist(), got, tol=1e-2)


def _floats(response: Any) -> list[list[float]]:
    return [d.embedding for d in response.data]


# test_basic
def test_basic(http: Any, openai_client: Any, input_tokens: list[int]) -> None:
    assert http.get("/v1/models").json()["data"][0]["id"] == MINILM
    assert openai_client.models.list().data[0].id == MINILM
    body = http.post("/tokenize", json={"model": MINILM, "prompt": INPUT_TEXT}).json()
    assert body["tokens"] == input_tokens


# test_completion_request, test_usage_policy.py::test_non_streaming
@pytest.mark.parametrize("as_tokens", [False, True], ids=["str", "list[int]"])
def test_completion_request(
    openai_client: Any, st_minilm: Any, input_tokens: list[int], as_tokens: bool
) -> None:
    response = openai_client.embeddings.create(
        model=MINILM, input=input_tokens if as_tokens else INPUT_TEXT, encoding_format="float"
    )
    assert response.id is not None
    assert len(response.data) == 1
    assert len(response.data[0].embedding) == 384
    assert response.usage.completion_tokens == 0
    assert response.usage.prompt_tokens == len(input_tokens)
    assert response.usage.total_tokens == len(input_tokens)
    correctness(st_minilm, [INPUT_TEXT], _floats(response))


# test_completion_request_batched, test_usage_policy.py::test_non_streaming_batch
@pytest.mark.parametrize("as_tokens", [False, True], ids=["list[str]", "list[list[int]]"])
def test_completion_request_batched(
    openai_client: Any, st_minilm: Any, input_tokens: list[int], as_tokens: bool
) -> None:
    n = 10
    response = openai_client.embeddings.create(
        model=MINILM,
        input=[input_tokens] * n if as_tokens else [INPUT_TEXT] * n,
        encoding_format="float",
    )
    assert response.id is not None
    assert len(response.data) == n
    assert len(response.data[0].embedding) == 384
    assert response.usage.completion_tokens == 0
    assert response.usage.prompt_tokens == len(input_tokens) * n
    assert response.usage.total_tokens == len(input_tokens) * n
    correctness(st_minilm, [INPUT_TEXT] * n, _floats(response))


# test_truncate_prompt_tokens
def test_truncate_prompt_tokens(openai_client: Any, minilm_tokenizer: Any) -> None:
    import openai

    texts = ["Como o Brasil pode fomentar o desenvolvimento de modelos de IA?"]
    ids = list(minilm_tokenizer(texts[0])["input_ids"])
    assert len(ids) > 10
    for given in (texts, ids):
        response = openai_client.embeddings.create(
            model=MINILM, input=given, extra_body={"truncate_prompt_tokens": 10}
        )
        assert response.id is not None
        assert len(response.data) == 1
        assert len(response.data[0].embedding) == 384
        assert response.usage.completion_tokens == 0
        assert response.usage.prompt_tokens == 10
        assert response.usage.total_tokens == 10
    with pytest.raises(openai.BadRequestError):
        openai_client.embeddings.create(
            model=MINILM, input=texts, extra_body={"truncate_prompt_tokens": 8193}
        )


# test_chat_request
def test_chat_request(http: Any, openai_client: Any, minilm_tokenizer: Any) -> None:
    chat = http.post(
        "/v1/embeddings", json={"model": MINILM, "messages": MESSAGES, "encoding_format": "float"}
    )
    chat.raise_for_status()
    prompt = minilm_tokenizer.apply_chat_template(
        MESSAGES,
        chat_template=DUMMY_CHAT_TEMPLATE,
        add_generation_prompt=True,
        continue_final_message=False,
        tokenize=False,
    )
    completion = openai_client.embeddings.create(
        model=MINILM, input=prompt, encoding_format="float",
        extra_body={"add_special_tokens": False},
    )  # fmt: skip
    chat_body, completion_body = chat.json(), completion.model_dump(mode="json")
    assert chat_body["id"] is not None
    assert completion_body["id"] is not None
    assert chat_body["created"] <= completion_body["created"]
    check_embeddings_close(
        [d["embedding"] for d in chat_body["data"]],
        [d["embedding"] for d in completion_body["data"]],
    )
    for key in ("object", "model", "usage"):
        assert chat_body[key] == completion_body[key], key

    def count(**flags: bool) -> int:
        special = flags.pop("add_special_tokens", False)
        text = minilm_tokenizer.apply_chat_template(
            MESSAGES, chat_template=DUMMY_CHAT_TEMPLATE, tokenize=False, **flags
        )
        return len(minilm_tokenizer(text, add_special_tokens=special)["input_ids"])

    for flags in (
        {"add_generation_prompt": True},
        {"continue_final_message": True},
        {"add_special_tokens": True},
    ):
        response = http.post(
            "/v1/embeddings", json={"model": MINILM, "messages": MESSAGES, **flags}
        )
        response.raise_for_status()
        output = response.json()
        assert output["object"] == "list"
        assert len(output["data"]) == 1
        assert output["model"] == MINILM
        assert output["usage"]["prompt_tokens"] == count(**flags), flags

    response = http.post(
        "/v1/embeddings",
        json={
            "model": MINILM,
            "messages": MESSAGES,
            "continue_final_message": True,
            "add_generation_prompt": True,
        },
    )
    assert (
        "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
        in response.json()["error"]["message"]
    )


# test_invocations_completion_request, test_invocations_chat_request
@pytest.mark.parametrize("form", ["completion", "chat"])
def test_invocations(http: Any, form: str) -> None:
    given = {"input": INPUT_TEXT} if form == "completion" else {"messages": MESSAGES}
    args = {"model": MINILM, "encoding_format": "float", **given}
    direct = http.post("/v1/embeddings", json=args)
    direct.raise_for_status()
    invocation = http.post("/invocations", json=args)
    invocation.raise_for_status()
    direct_body, invocation_body = direct.json(), invocation.json()
    assert direct_body.keys() == invocation_body.keys()
    for a, b in zip(direct_body["data"], invocation_body["data"], strict=True):
        assert a.keys() == b.keys()
        check_embeddings_close([a["embedding"]], [b["embedding"]])


# test_base64_embedding
def test_base64_embedding(openai_client: Any, st_minilm: Any) -> None:
    texts = ["Hello my name is", INPUT_TEXT]
    floats = openai_client.embeddings.create(input=texts, model=MINILM, encoding_format="float")
    correctness(st_minilm, texts, _floats(floats))
    # Asked for explicitly, base64 comes back undecoded: little-endian float32 bytes.
    raw = openai_client.embeddings.create(input=texts, model=MINILM, encoding_format="base64")
    decoded = [
        np.frombuffer(base64.b64decode(d.embedding), dtype="float32").tolist() for d in raw.data
    ]
    correctness(st_minilm, texts, decoded)
    # Default: the SDK asks for base64 and decodes float32 itself.
    default = openai_client.embeddings.create(input=texts, model=MINILM)
    correctness(st_minilm, texts, _floats(default))


def _float_data(openai_client: Any, texts: list[str]) -> list[list[float]]:
    return _floats(
        openai_client.embeddings.create(input=texts, model=MINILM, encoding_format="float")
    )


# test_base64_embed_dtype_and_endianness
def test_base64_embed_dtype_and_endianness(http: Any, openai_client: Any) -> None:
    texts = [INPUT_TEXT] * 3
    float_data = _float_data(openai_client, texts)
    for embed_dtype in EMBED_DTYPES:
        for endianness in ENDIANNESS:
            response = http.post(
                "/v1/embeddings",
                json={
                    "model": MINILM, "input": texts, "encoding_format": "base64",
                    "embed_dtype": embed_dtype, "endianness": endianness,
                },
            )  # fmt: skip
            decoded = [
                binary_to_tensor(base64.b64decode(d["embedding"]), (-1,), embed_dtype, endianness)
                .to(torch.float32)
                .tolist()
                for d in response.json()["data"]
            ]
            check_embeddings_close(float_data, decoded, tol=1e-2)


# test_bytes_embed_dtype_and_endianness
def test_bytes_embed_dtype_and_endianness(http: Any, openai_client: Any) -> None:
    texts = [INPUT_TEXT] * 3
    float_data = _float_data(openai_client, texts)
    for embed_dtype in EMBED_DTYPES:
        for endianness in ENDIANNESS:
            response = http.post(
                "/v1/embeddings",
                json={
                    "model": MINILM, "input": texts, "encoding_format": "bytes",
                    "embed_dtype": embed_dtype, "endianness": endianness,
                },
            )  # fmt: skip
            metadata = json.loads(response.headers["metadata"])
            items = metadata["data"]
            decoded = [t.to(torch.float32).tolist() for t in decode_items(items, response.content)]
            check_embeddings_close(float_data, decoded, tol=1e-2)


# test_bytes_only_embed_dtype_and_endianness
def test_bytes_only_embed_dtype_and_endianness(http: Any, openai_client: Any) -> None:
    texts = [INPUT_TEXT] * 2
    float_data = _float_data(openai_client, texts)
    size = len(float_data[0])
    for embed_dtype in EMBED_DTYPES:
        for endianness in ENDIANNESS:
            response = http.post(
                "/v1/embeddings",
                json={
                    "model": MINILM, "input": texts, "encoding_format": "bytes_only",
                    "embed_dtype": embed_dtype, "endianness": endianness,
                },
            )  # fmt: skip
            assert "metadata" not in response.headers
            items = fixed_items(embed_dtype, endianness, (size,), len(texts))
            decoded = [t.to(torch.float32).tolist() for t in decode_items(items, response.content)]
            check_embeddings_close(float_data, decoded, tol=1e-2)


# test_params_not_supported
@pytest.mark.parametrize("param_name", ["encoding_format", "embed_dtype", "endianness"])
def test_params_not_supported(http: Any, param_name: str) -> None:
    response = http.post(
        "/v1/embeddings",
        json={
            "model": MINILM,
            "input": INPUT_TEXT,
            "encoding_format": "base64",
            param_name: f"bad_{param_name}",
        },
    )
    assert response.status_code == 400
    assert "literal_error" in response.json()["error"]["message"]
    assert f"bad_{param_name}" in response.json()["error"]["message"]


# test_use_activation
def test_use_activation(http: Any) -> None:
    def outputs(use_activation: bool | None) -> torch.Tensor:
        body = {"model": MINILM, "input": INPUT_TEXT, "encoding_format": "float",
                "use_activation": use_activation}  # fmt: skip
        data = http.post("/v1/embeddings", json=body).json()["data"]
        return torch.tensor([x["embedding"] for x in data])

    default, w_normal, wo_normal = outputs(None), outputs(True), outputs(False)
    assert torch.allclose(default, w_normal, atol=1e-2), "Default should use normal."
    assert not torch.allclose(w_normal, wo_normal, atol=1e-2), "wo_normal should not use normal."
    assert torch.allclose(w_normal, F.normalize(wo_normal, p=2, dim=-1), atol=1e-2)


# test_pooling_embed, test_pooling_token_embed
def test_pooling_embed_and_token_embed(http: Any, input_tokens: list[int]) -> None:
    body = {"model": MINILM, "input": INPUT_TEXT, "encoding_format": "float"}
    embed = http.post("/pooling", json={**body, "task": "embed"}).json()
    assert len(embed["data"]) == 1
    assert len(embed["data"][0]["data"]) == 384
    tokens = http.post("/pooling", json={**body, "task": "token_embed"}).json()
    assert len(tokens["data"]) == 1
    assert len(tokens["data"][0]["data"]) == len(input_tokens)
    assert len(tokens["data"][0]["data"][0]) == 384


# test_pooling_not_supported
@pytest.mark.parametrize("task", ["classify", "token_classify", "plugin"])
def test_pooling_not_supported(http: Any, task: str) -> None:
    response = http.post(
        "/pooling",
        json={"model": MINILM, "input": "test", "encoding_format": "float", "task": task},
    )
    assert response.json()["error"]["type"] == "BadRequestError"
    assert response.json()["error"]["message"].startswith(f"Unsupported task: {task!r}")
