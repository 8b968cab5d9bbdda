"""The Classification API, ported from vLLM ``tests/entrypoints/pooling/classify/test_online.py``
(jason9693/Qwen2.5-1.5B-apeach, labels ``Default`` / ``Spoiled``). Here a tiny BERT sequence
classifier with the same two labels, served with vLLM's dummy chat template; token ids and
counts come from its own tokenizer (vLLM hard-codes apeach's), and the chat is vLLM's three
turns in the tiny vocabulary (the model reads 64 positions)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from tests.vllm_peer.conftest import DUMMY_CHAT_TEMPLATE

MODEL = "classifier"
INPUT_TEXT = "this product was very good and new"
MESSAGES = [
    {"role": "user", "content": "the cat sleeps on the street"},
    {"role": "assistant", "content": "a dog runs in the city"},
    {"role": "user", "content": "the sky is blue at night"},
]
MAX_MODEL_LEN = 64


@pytest.fixture(scope="module")
def tokenizer(peer_classifier_path: Any) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(peer_classifier_path))


@pytest.fixture(scope="module")
def input_tokens(tokenizer: Any) -> list[int]:
    return list(tokenizer(INPUT_TEXT)["input_ids"])


def _classify(http: Any, **body: Any) -> Any:
    response = http.post("/classify", json={"model": MODEL, **body})
    response.raise_for_status()
    return response.json()


def _check_one(output: Any) -> None:
    assert output["object"] == "list"
    assert output["model"] == MODEL
    assert len(output["data"]) == 1
    assert "label" in output["data"][0]
    assert "probs" in output["data"][0]


# test_basic (the classifier is one of several served; vLLM serves it alone)
def test_basic(http: Any, input_tokens: list[int]) -> None:
    assert MODEL in [m["id"] for m in http.get("/v1/models").json()["data"]]
    body = http.post("/tokenize", json={"model": MODEL, "prompt": INPUT_TEXT}).json()
    assert body["tokens"] == input_tokens


# test_completion_request
def test_completion_request(http: Any, input_tokens: list[int]) -> None:
    _check_one(_classify(http, input=INPUT_TEXT))
    _check_one(_classify(http, input=input_tokens))


# test_completion_request_batched
@pytest.mark.parametrize("as_tokens", [False, True], ids=["list[str]", "list[list[int]]"])
def test_completion_request_batched(http: Any, input_tokens: list[int], as_tokens: bool) -> None:
    n = 10
    output = _classify(http, input=[input_tokens] * n if as_tokens else [INPUT_TEXT] * n)
    assert len(output["data"]) == n
    for i, item in enumerate(output["data"]):
        assert item["index"] == i
        assert len(item["probs"]) == item["num_classes"]
        assert item["label"] in ["Default", "Spoiled"]


# test_empty_input_error
@pytest.mark.parametrize("empty", ["", []], ids=["str", "list"])
def test_empty_input_error(http: Any, empty: Any) -> None:
    response = http.post("/classify", json={"model": MODEL, "input": empty})
    assert response.status_code == 400
    assert "error" in response.json()


# test_truncate_prompt_tokens
def test_truncate_prompt_tokens(http: Any) -> None:
    output = _classify(http, input="hello " * 600, truncate_prompt_tokens=5)
    assert len(output["data"]) == 1
    assert output["data"][0]["index"] == 0
    assert "probs" in output["data"][0]
    assert output["usage"]["prompt_tokens"] == 5
    assert output["usage"]["total_tokens"] == 5
    response = http.post(
        "/classify",
        json={"model": MODEL, "input": "test", "truncate_prompt_tokens": MAX_MODEL_LEN + 1},
    )
    assert response.status_code == 400
    assert "truncate_prompt_tokens" in response.json()["error"]["message"]


# test_add_special_tokens
@pytest.mark.parametrize("special", [False, True])
def test_add_special_tokens(http: Any, special: bool) -> None:
    _check_one(_classify(http, input=INPUT_TEXT, add_special_tokens=special))


# test_chat_request
def test_chat_request(http: Any, tokenizer: Any) -> None:
    def count(**flags: bool) -> int:
        special = flags.pop("add_special_tokens", False)
        text = tokenizer.apply_chat_template(
            MESSAGES, chat_template=DUMMY_CHAT_TEMPLATE, tokenize=False, **flags
        )
        return len(tokenizer(text, add_special_tokens=special)["input_ids"])

    for flags in (
        {},
        {"add_generation_prompt": True},
        {"continue_final_message": True},
        {"add_special_tokens": True},
    ):
        output = _classify(http, messages=MESSAGES, **flags)
        _check_one(output)
        assert output["usage"]["prompt_tokens"] == count(**flags), flags
    response = http.post(
        "/classify",
        json={
            "model": MODEL,
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
    args = {
        "model": MODEL,
        **({"input": INPUT_TEXT} if form == "completion" else {"messages": MESSAGES}),
    }
    direct = _classify(http, **{k: v for k, v in args.items() if k != "model"})
    invocation = http.post("/invocations", json=args)
    invocation.raise_for_status()
    body = invocation.json()
    assert direct.keys() == body.keys()
    for a, b in zip(direct["data"], body["data"], strict=True):
        assert a.keys() == b.keys()
        assert a["probs"] == pytest.approx(b["probs"], rel=0.01)


# test_use_activation
def test_use_activation(http: Any) -> None:
    def outputs(use_activation: bool | None) -> torch.Tensor:
        data = _classify(http, input=INPUT_TEXT, use_activation=use_activation)["data"]
        return torch.tensor([x["probs"] for x in data])

    default, w, wo = outputs(None), outputs(True), outputs(False)
    assert torch.allclose(default, w, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w, wo, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(F.softmax(wo, dim=-1), w, atol=1e-2)


# test_score, test_rerank: vLLM does not register the routes for a 2-label model (a bare
# FastAPI 404); the toolkit serves several models on one app, so it refuses the request with a
# 400 in vLLM's envelope and vLLM's offline wording (see README.md).
@pytest.mark.parametrize(
    ("route", "body"),
    [("/score", {"queries": "ping", "documents": "pong"}),
     ("/rerank", {"query": "ping", "documents": ["pong"]})],
)  # fmt: skip
def test_score_and_rerank_refused(http: Any, route: str, body: dict[str, Any]) -> None:
    response = http.post(route, json={"model": MODEL, **body})
    assert response.status_code == 400
    assert "Scoring API is only enabled for num_labels == 1" in response.json()["error"]["message"]


# test_pooling_classify
def test_pooling_classify(http: Any) -> None:
    body = {"model": MODEL, "input": INPUT_TEXT, "encoding_format": "float", "task": "classify"}
    poolings = http.post("/pooling", json=body).json()
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == 2


# test_pooling_not_supported (embed, token_embed; see README.md for plugin / token_classify)
@pytest.mark.parametrize("task", ["embed", "token_embed"])
def test_pooling_not_supported(http: Any, task: str) -> None:
    body = {"model": MODEL, "input": INPUT_TEXT, "encoding_format": "float", "task": task}
    response = http.post("/pooling", json=body)
    assert response.json()["error"]["type"] == "BadRequestError"
    assert response.json()["error"]["message"].startswith(f"Unsupported task: {task!r}")
