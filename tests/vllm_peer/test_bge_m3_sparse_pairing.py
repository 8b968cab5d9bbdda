"""vLLM's documented BGE-M3 sparse pairing, through the real server and the openai client.

Follows vLLM's ``tests/models/language/pooling/test_bge_m3.py`` (its ``tokenize`` /
``sparse_embeddings`` helpers: ``POST ../tokenize`` per sentence, ``POST ../pooling`` with
``task: token_classify``, drop the first token when it is 0 (``<s>``), zip with the weights,
keep the max per token) and the "BAAI/bge-m3" section of vLLM's *Pooling Models* doc ("you'll
have to call ``/tokenize`` as well to be able to pair tokens with scores"). The expected values
are not vLLM's published numbers (they need the real weights) but FlagEmbedding's own
``lexical_weights`` / ``compute_lexical_matching_score`` on the same tiny checkpoint, which
FlagEmbedding wrote (``tests/tiny_bge_m3.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.server import build_app
from encoders import LLM
from tests.adapters.server.conftest import start_uvicorn
from tests.tiny_bge_m3 import make_bge_m3

MODEL = "BAAI/bge-m3"
SENTENCES_1 = ["what is the air pressure on a wing", "a cat sleeps on the street at night"]
SENTENCES_2 = [
    "the wing lift and air flow: the pressure on a wing is air speed",
    "a dog runs on the street, a cat sleeps",
]
UNUSED = {0, 1, 2, 3}  # FlagEmbedding drops <s>, <pad>, </s>, <unk> from lexical weights


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bge_m3(tmp_path_factory.mktemp("bge_m3_pairing"))


@pytest.fixture(scope="module")
def client(folder: Path) -> Iterator[Any]:
    import openai

    llm = LLM(str(folder), device="cpu", hf_overrides={"architectures": ["BgeM3EmbeddingModel"]})
    url, stop = start_uvicorn(build_app([([MODEL], llm)]))
    yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    stop()


@pytest.fixture(scope="module")
def flag(folder: Path) -> Any:
    from FlagEmbedding import BGEM3FlagModel

    return BGEM3FlagModel(str(folder), use_fp16=False, devices="cpu")


def tokenize(client: Any, sentences: list[str]) -> list[list[int]]:
    responses = [
        client.post(
            "../tokenize", body={"model": MODEL, "prompt": s}, cast_to=httpx.Response
        ).json()
        for s in sentences
    ]
    return [r["tokens"] for r in responses]


def sparse_embeddings(client: Any, sentences: list[str]) -> list[dict[int, float]]:
    """vLLM's pairing method, step for step."""
    all_tokens = tokenize(client, sentences)
    result = client.post(
        "../pooling",
        body={"model": MODEL, "input": sentences, "task": "token_classify"},
        cast_to=httpx.Response,
    )
    all_weights = [item["data"] for item in result.json()["data"]]
    paired = []
    for tokens, weights in zip(all_tokens, all_weights, strict=True):
        assert len(weights) == len(tokens) - 2  # no weight for <s> and </s>
        if tokens[0] == 0:
            tokens = tokens[1:]
        token_weights: dict[int, float] = {}
        for token, value in zip(tokens, weights, strict=False):  # zip stops before </s>
            token_weights[token] = max(value, token_weights.get(token, 0.0))
        paired.append(token_weights)
    return paired


def lexical(weights: dict[int, float]) -> dict[str, float]:
    """The paired weights in FlagEmbedding's form: str ids, no special / unknown / zero."""
    return {str(t): w for t, w in weights.items() if t not in UNUSED and w > 0}


def test_pairing_equals_flagembedding_lexical_weights(client: Any, flag: Any) -> None:
    sentences = SENTENCES_1 + SENTENCES_2 + ["Hi there, what is BGE M3?"]
    paired = sparse_embeddings(client, sentences)
    reference = flag.encode(sentences, return_dense=False, return_sparse=True)
    for ours, theirs in zip(paired, reference["lexical_weights"], strict=True):
        ours_lexical = lexical(ours)
        assert ours_lexical.keys() == theirs.keys()
        for token, weight in theirs.items():
            assert ours_lexical[token] == pytest.approx(float(weight), abs=1e-5)


def test_lexical_matching_scores(client: Any, flag: Any) -> None:
    """vLLM's ``test_bge_m3_api_server_sparse_embedding``: the score of sentence pairs from
    the paired weights equals FlagEmbedding's ``compute_lexical_matching_score``."""
    ours_1 = [lexical(w) for w in sparse_embeddings(client, SENTENCES_1)]
    ours_2 = [lexical(w) for w in sparse_embeddings(client, SENTENCES_2)]
    theirs_1 = flag.encode(SENTENCES_1, return_dense=False, return_sparse=True)
    theirs_2 = flag.encode(SENTENCES_2, return_dense=False, return_sparse=True)
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        ours = flag.compute_lexical_matching_score(ours_1[i], ours_2[j])
        theirs = flag.compute_lexical_matching_score(
            theirs_1["lexical_weights"][i], theirs_2["lexical_weights"][j]
        )
        assert ours == pytest.approx(float(theirs), abs=1e-5)
    assert flag.compute_lexical_matching_score(ours_1[0], ours_2[0]) > 0  # shared words


def test_single_word_corner_case(client: Any, flag: Any) -> None:
    """vLLM's ``..._sparse_embedding_corner_case``: one word, one weighted token."""
    (ours,) = sparse_embeddings(client, ["hello"])
    (word,) = flag.tokenizer("hello", add_special_tokens=False)["input_ids"]
    assert list(ours) == [word]
    theirs = flag.encode(["hello"], return_dense=False, return_sparse=True)["lexical_weights"][0]
    assert ours[word] == pytest.approx(float(theirs.get(str(word), 0.0)), abs=1e-5)
