"""Images through the server for a model that reads them (a tiny random ColQwen3 checkpoint).

Server answers are compared with ``LLM.encode`` / ``LLM.score`` called in-process on the same
inputs; bad images get 400s carrying the runtime's or the server's message, never a 5xx, and
the server never reads its own disk nor fetches remote URLs unless told to.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from adapters.cli import build_parser
from adapters.cli.cmd_serve import load_models
from adapters.server import build_app
from tests import tiny_vl

QUERY = "what is in the picture"


@pytest.fixture(scope="module")
def colqwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_vl.make_colqwen(tmp_path_factory.mktemp("srv_colqwen"), "colqwen3")


@pytest.fixture(scope="module")
def vl(colqwen_dir: Path) -> Any:
    from encoders import LLM

    return LLM(str(colqwen_dir), device="cpu")


@pytest.fixture(scope="module")
def api(vl: Any) -> Iterator[TestClient]:
    with TestClient(build_app([(["colqwen"], vl)])) as client:
        yield client


def _image(url: str, text: str | None = "Describe the image.") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}}]
    if text is not None:
        parts.append({"type": "text", "text": text})
    return {"content": parts}


RED = tiny_vl.data_url(tiny_vl.png_bytes())
BLUE = tiny_vl.data_url(tiny_vl.png_bytes((40, 60), color=(10, 20, 230)))


def _scores(outputs: list[Any]) -> list[float]:
    return [float(o.outputs.score) for o in outputs]


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- results equal the in-process runtime ---------------------------------------------------
def test_score_text_by_images_equals_llm_score(api: TestClient, vl: Any) -> None:
    docs = [_image(RED), "the cat sleeps", _image(BLUE, text=None)]
    expected = _scores(vl.score(QUERY, docs))
    for first, second in (("data_1", "data_2"), ("queries", "items"), ("queries", "documents")):
        body = _ok(api.post("/score", json={"model": "colqwen", first: QUERY, second: docs}))
        got = [d["score"] for d in body["data"]]
        assert got == pytest.approx(expected, abs=1e-5), (first, second)
    assert expected[0] != pytest.approx(expected[2], abs=1e-4)  # the two images differ
    # N:N with an image on the first side.
    pairs = _ok(api.post("/score", json={"data_1": [_image(RED), QUERY], "data_2": [QUERY, QUERY]}))
    expected_nn = _scores(vl.score([_image(RED), QUERY], [QUERY, QUERY]))
    assert [d["score"] for d in pairs["data"]] == pytest.approx(expected_nn, abs=1e-5)


@pytest.mark.parametrize("route", ["/rerank", "/v1/rerank", "/v2/rerank"])
def test_rerank_image_documents_equals_llm_score(api: TestClient, vl: Any, route: str) -> None:
    blue_parts = _image(BLUE)["content"]
    documents: list[Any] = [
        _image(RED),  # {"content": [...]}
        blue_parts,  # a bare list of content parts
        {"content": _image(RED, text=None)["content"], "id": "page-7", "metadata": {"p": 7}},
        "the cat sleeps",
    ]
    expected = _scores(
        vl.score(QUERY, [_image(RED), _image(BLUE), _image(RED, None), "the cat sleeps"])
    )
    body = _ok(api.post(route, json={"query": QUERY, "documents": documents}))
    results = body["results"]
    assert [r["index"] for r in results] == sorted(range(4), key=lambda i: -expected[i])
    for result in results:
        assert result["relevance_score"] == pytest.approx(expected[result["index"]], abs=1e-5)
    by_index = {r["index"]: r["document"] for r in results}
    assert by_index[0] == {"text": None, "multi_modal": _image(RED)["content"]}
    assert by_index[1]["multi_modal"] == blue_parts
    assert by_index[2]["id"] == "page-7"
    assert by_index[2]["metadata"] == {"p": 7}
    assert by_index[3] == {"text": "the cat sleeps", "multi_modal": None}
    top = _ok(api.post(route, json={"query": QUERY, "documents": documents, "top_n": 1}))
    assert [r["index"] for r in top["results"]] == [results[0]["index"]]


def test_rerank_image_query(api: TestClient, vl: Any) -> None:
    docs = ["a red square", "the cat sleeps"]
    body = _ok(api.post("/rerank", json={"query": _image(RED), "documents": docs}))
    expected = _scores(vl.score(_image(RED), docs))
    got = {r["index"]: r["relevance_score"] for r in body["results"]}
    assert [got[0], got[1]] == pytest.approx(expected, abs=1e-5)


def test_pooling_token_embed_of_images_equals_llm_encode(api: TestClient, vl: Any) -> None:
    conversation = [{"role": "user", "content": _image(RED)["content"]}]
    (expected,) = vl.encode({"messages": conversation}, pooling_task="token_embed")
    body = _ok(api.post("/pooling", json={"messages": conversation, "task": "token_embed"}))
    (item,) = body["data"]
    got = torch.tensor(item["data"])
    assert got.shape == expected.outputs.data.shape
    assert got.shape[0] > 20
    torch.testing.assert_close(got, expected.outputs.data.float(), atol=1e-5, rtol=1e-4)
    assert body["usage"]["prompt_tokens"] == len(expected.prompt_token_ids)
    # `input` with content parts, mixed with plain text, base64 output; default task.
    inputs = [_image(BLUE), "plain words"]
    expected_mixed = vl.encode([_image(BLUE), "plain words"], pooling_task="token_embed")
    mixed = _ok(api.post("/pooling", json={"input": inputs, "encoding_format": "base64"}))
    for item, want in zip(mixed["data"], expected_mixed, strict=True):
        raw = np.frombuffer(base64.b64decode(item["data"]), dtype="<f4")
        np.testing.assert_allclose(raw, want.outputs.data.reshape(-1).numpy(), atol=1e-5)
    # Several conversations in one request: one result each.
    two = _ok(api.post("/pooling", json={"messages": [conversation, conversation]}))
    assert len(two["data"]) == 2
    for one in two["data"]:
        torch.testing.assert_close(torch.tensor(one["data"]), got, atol=1e-5, rtol=1e-4)


# -- bad images: 400 with a message, never 5xx ----------------------------------------------
def _error(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    message: str = error["message"]
    return message


def test_corrupt_images_get_the_runtime_message(api: TestClient) -> None:
    bad_b64 = _image("data:image/png;base64,@@not-base64@@")
    message = _error(api.post("/score", json={"data_1": QUERY, "data_2": [bad_b64]}))
    assert "the data URL payload is not valid base64" in message
    broken = _image(tiny_vl.data_url(b"\x89PNG\r\n\x1a\n broken"))
    message = _error(api.post("/rerank", json={"query": QUERY, "documents": [broken]}))
    assert "cannot decode the image" in message
    message = _error(api.post("/pooling", json={"messages": [{"role": "user", **broken}]}))
    assert "cannot decode the image" in message
    assert api.get("/health").status_code == 200


def test_remote_urls_are_refused_without_the_flag(api: TestClient) -> None:
    remote = _image("http://169.254.169.254/latest/meta-data")
    message = _error(api.post("/rerank", json={"query": QUERY, "documents": [remote]}))
    assert "documents[0].content[0]" in message
    assert "--allow-remote-images" in message
    message = _error(api.post("/pooling", json={"input": [_image("https://example.com/a.png")]}))
    assert "remote image URL" in message


def test_local_files_are_never_read(api: TestClient, tmp_path: Path) -> None:
    # The model itself may read files (its default policy); the server still refuses them.
    path = tmp_path / "secret.png"
    path.write_bytes(tiny_vl.png_bytes())
    for url in (str(path), path.as_uri()):
        message = _error(api.post("/score", json={"data_1": QUERY, "data_2": [_image(url)]}))
        assert "never from its own disk" in message
        assert "data_2[0].content[0]" in message
    # A plain text naming an image file stays text: scored as words, not as the image.
    text = _ok(api.post("/score", json={"data_1": QUERY, "data_2": [str(path)]}))
    image = _ok(api.post("/score", json={"data_1": QUERY, "data_2": [_image(RED, None)]}))
    assert text["data"][0]["score"] != pytest.approx(image["data"][0]["score"], abs=1e-4)


def test_other_bad_inputs(api: TestClient) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/score", {"data_1": QUERY, "data_2": [{"content": [{"type": "video"}]}]}, "must be"),
        ("/score", {"data_1": QUERY, "data_2": [{"content": []}]}, "non-empty list"),
        ("/score", {"data_1": QUERY, "data_2": [_image("")]}, "url` is missing"),
        ("/rerank", {"query": 5, "documents": ["a"]}, "`query` must be a string"),
        ("/pooling", {"input": [{"content": "x"}], "messages": [{"role": "user"}]}, "not both"),
        ("/pooling", {"messages": [{"content": "x"}]}, "`role` and `content`"),
        ("/pooling", {"input": [{"prompt": "x"}]}, "`input[0]` has type dict"),
        ("/pooling", {"input": [_image(RED)], "truncate_prompt_tokens": 5}, "not truncated"),
    ]
    for route, body, text in cases:
        assert text in _error(api.post(route, json=body)), (route, body)


# -- retrieval serve ------------------------------------------------------------------------
def test_serve_loads_image_models_without_disk_access(colqwen_dir: Path) -> None:
    parser = build_parser()
    default = parser.parse_args(["serve", str(colqwen_dir), "--device", "cpu"])
    assert default.allow_remote_images is False
    ((_, llm),) = load_models(default)
    policy = llm.model.processor.policy
    assert (policy.allow_remote, policy.allow_local_files) == (False, False)
    args = parser.parse_args(["serve", str(colqwen_dir), "--allow-remote-images"])
    assert args.allow_remote_images is True
