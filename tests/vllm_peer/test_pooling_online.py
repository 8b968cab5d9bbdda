"""The Pooling API on a reward model, ported from vLLM
``tests/entrypoints/pooling/pooling/test_online.py`` and its newer copy
``tests/entrypoints/pooling/reward/test_token_reward_online.py`` (internlm2-1_8b-reward: one
score per token, so ``/pooling`` answers ``token_classify`` by default with an
``(n_tokens, 1)`` tensor). Here the model is a tiny BERT token classifier with one label,
served with vLLM's dummy chat template; token ids come from its own tokenizer."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
import torch

from tests.vllm_peer.conftest import DUMMY_CHAT_TEMPLATE
from tests.vllm_peer.helpers import (
    EMBED_DTYPES,
    ENDIANNESS,
    binary_to_tensor,
    check_embeddings_close,
    decode_items,
    fixed_items,
)

MODEL = "reward"
INPUT_TEXT = "The chef prepared a delicious meal."
# vLLM's three-turn chat in the tiny vocabulary (its 64-position model cannot read the
# letter-by-letter pieces vLLM's sentences become).
MESSAGES = [
    {"role": "user", "content": "the cat sleeps on the street"},
    {"role": "assistant", "content": "a dog runs in the city"},
    {"role": "user", "content": "the sky is blue at night"},
]


@pytest.fixture(scope="module")
def tokenizer(peer_reward_path: Any) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(peer_reward_path))


@pytest.fixture(scope="module")
def input_tokens(tokenizer: Any) -> list[int]:
    return list(tokenizer(INPUT_TEXT)["input_ids"])


def _pool(http: Any, **body: Any) -> Any:
    response = http.post("/pooling", json={"model": MODEL, **body})
    response.raise_for_status()
    return response.json()


def _rows(body: Any) -> list[list[float]]:
    """vLLM's ``np.array(d.data).squeeze(-1)``: one score per token."""
    return [np.array(d["data"]).squeeze(-1).tolist() for d in body["data"]]


# test_basic (the reward model is one of several served; vLLM serves it alone)
def test_basic(http: Any, input_tokens: list[int]) -> None:
    assert MODEL in [m["id"] for m in http.get("/v1/models").json()["data"]]
    body = http.post("/tokenize", json={"model": MODEL, "prompt": INPUT_TEXT}).json()
    assert body["tokens"] == input_tokens


# test_completion_request
@pytest.mark.parametrize("as_tokens", [False, True], ids=["str", "list[int]"])
def test_completion_request(http: Any, input_tokens: list[int], as_tokens: bool) -> None:
    body = _pool(http, input=input_tokens if as_tokens else INPUT_TEXT, encoding_format="float")
    assert body["id"] is not None
    assert len(body["data"]) == 1
    assert len(body["data"][0]["data"]) == len(input_tokens)
    assert body["usage"]["completion_tokens"] == 0
    assert body["usage"]["prompt_tokens"] == len(input_tokens)
    assert body["usage"]["total_tokens"] == len(input_tokens)


# test_completion_request_batched
@pytest.mark.parametrize("as_tokens", [False, True], ids=["list[str]", "list[list[int]]"])
def test_completion_request_batched(http: Any, input_tokens: list[int], as_tokens: bool) -> None:
    n = 10
    given = [input_tokens] * n if as_tokens else [INPUT_TEXT] * n
    body = _pool(http, input=given, encoding_format="float")
    assert body["id"] is not None
    assert len(body["data"]) == n
    assert len(body["data"][0]["data"]) == len(input_tokens)
    assert body["usage"]["completion_tokens"] == 0
    assert body["usage"]["prompt_tokens"] == len(input_tokens) * n
    assert body["usage"]["total_tokens"] == len(input_tokens) * n


# test_conversation_pooling
def test_conversation_pooling(http: Any, tokenizer: Any) -> None:
    chat = _pool(http, messages=MESSAGES, encoding_format="float")
    prompt = tokenizer.apply_chat_template(
        MESSAGES,
        chat_template=DUMMY_CHAT_TEMPLATE,
        add_generation_prompt=True,
        continue_final_message=False,
        tokenize=False,
    )
    completion = _pool(http, input=prompt, encoding_format="float", add_special_tokens=False)
    assert chat["id"] is not None
    assert completion["id"] is not None
    assert chat["created"] <= completion["created"]
    for key in ("object", "model", "data", "usage"):
        assert chat[key] == completion[key], key


# reward/test_token_reward_online.py::test_chat_request (the chat switches)
def test_chat_request_flags(http: Any, tokenizer: Any) -> None:
    def count(**flags: bool) -> int:
        special = flags.pop("add_special_tokens", False)
        text = tokenizer.apply_chat_template(
            MESSAGES, chat_template=DUMMY_CHAT_TEMPLATE, tokenize=False, **flags
        )
        return len(tokenizer(text, add_special_tokens=special)["input_ids"])

    for flags in (
        {"add_generation_prompt": True},
        {"continue_final_message": True},
        {"add_special_tokens": True},
    ):
        output = _pool(http, messages=MESSAGES, **flags)
        assert output["object"] == "list"
        assert len(output["data"]) == 1
        assert output["model"] == MODEL
        assert output["usage"]["prompt_tokens"] == count(**flags), flags
    both = {"continue_final_message": True, "add_generation_prompt": True}
    response = http.post("/pooling", json={"model": MODEL, "messages": MESSAGES, **both})
    assert (
        "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
        in response.json()["error"]["message"]
    )


# test_batch_base64_pooling
def test_batch_base64_pooling(http: Any) -> None:
    texts = ["Hello my name is", "The best thing about vLLM is that it supports many models"]
    float_data = _rows(_pool(http, input=texts, encoding_format="float"))
    b64 = _pool(http, input=texts, encoding_format="base64")
    decoded = [
        np.frombuffer(base64.b64decode(d["data"]), dtype="float32").tolist() for d in b64["data"]
    ]
    check_embeddings_close(float_data, decoded)
    default = _rows(_pool(http, input=texts))  # default: float lists
    check_embeddings_close(float_data, default)


def _dtype_bodies(http: Any, texts: list[str], fmt: str) -> Any:
    for embed_dtype in EMBED_DTYPES:
        for endianness in ENDIANNESS:
            body = {
                "model": MODEL, "input": texts, "encoding_format": fmt,
                "embed_dtype": embed_dtype, "endianness": endianness,
            }  # fmt: skip
            yield embed_dtype, endianness, http.post("/pooling", json=body)


# test_base64_embed_dtype_and_endianness
def test_base64_embed_dtype_and_endianness(http: Any) -> None:
    texts = [INPUT_TEXT] * 3
    float_data = _rows(_pool(http, input=texts, encoding_format="float"))
    for embed_dtype, endianness, response in _dtype_bodies(http, texts, "base64"):
        decoded = [
            binary_to_tensor(base64.b64decode(d["data"]), (-1,), embed_dtype, endianness)
            .to(torch.float32)
            .tolist()
            for d in response.json()["data"]
        ]
        check_embeddings_close(float_data, decoded, tol=1e-2)


# test_bytes_embed_dtype_and_endianness
def test_bytes_embed_dtype_and_endianness(http: Any) -> None:
    texts = [INPUT_TEXT] * 3
    float_data = _rows(_pool(http, input=texts, encoding_format="float"))
    for _, _, response in _dtype_bodies(http, texts, "bytes"):
        items = json.loads(response.headers["metadata"])["data"]
        decoded = [
            t.to(torch.float32).view(-1).tolist() for t in decode_items(items, response.content)
        ]
        check_embeddings_close(float_data, decoded, tol=1e-2)


# test_bytes_only_embed_dtype_and_endianness
def test_bytes_only_embed_dtype_and_endianness(http: Any) -> None:
    texts = [INPUT_TEXT] * 3
    floats = _pool(http, input=texts, encoding_format="float")
    float_data = _rows(floats)
    n_tokens = floats["usage"]["prompt_tokens"] // len(texts)
    for embed_dtype, endianness, response in _dtype_bodies(http, texts, "bytes_only"):
        assert "metadata" not in response.headers
        items = fixed_items(embed_dtype, endianness, (n_tokens, 1), len(texts))
        decoded = [
            t.to(torch.float32).view(-1).tolist() for t in decode_items(items, response.content)
        ]
        check_embeddings_close(float_data, decoded, tol=1e-2)


# test_params_not_supported
@pytest.mark.parametrize("param_name", ["encoding_format", "embed_dtype", "endianness"])
def test_params_not_supported(http: Any, param_name: str) -> None:
    response = http.post(
        "/pooling",
        json={
            "model": MODEL,
            "input": INPUT_TEXT,
            "encoding_format": "base64",
            param_name: f"bad_{param_name}",
        },
    )
    assert response.status_code == 400
    assert "literal_error" in response.json()["error"]["message"]
    assert f"bad_{param_name}" in response.json()["error"]["message"]


# test_invocations, test_invocations_conversation
@pytest.mark.parametrize("form", ["completion", "conversation"])
def test_invocations(http: Any, form: str) -> None:
    given = {"input": INPUT_TEXT} if form == "completion" else {"messages": MESSAGES}
    args = {"model": MODEL, "encoding_format": "float", **given}
    direct = http.post("/pooling", json=args)
    direct.raise_for_status()
    invocation = http.post("/invocations", json=args)
    invocation.raise_for_status()
    direct_body, invocation_body = direct.json(), invocation.json()
    assert direct_body.keys() == invocation_body.keys()
    for a, b in zip(direct_body["data"], invocation_body["data"], strict=True):
        assert a.keys() == b.keys()
        check_embeddings_close(a["data"], b["data"])
