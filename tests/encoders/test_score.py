"""LLM.score: cross-encoders read each pair jointly; embedding models use cosine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from encoders import LLM
from retrieval.errors import ConfigError
from tests.tiny_models import make_family

QUERY = "what is the air pressure on a wing"
DOCS = ["the wing lift and air flow", "a cat sleeps on the street", "pressure speed model"]


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-logit BERT reranker in the sentence-transformers CrossEncoder layout."""
    folder = make_family(tmp_path_factory.mktemp("ce"), "bert", "seq", labels=1, seed=7)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _st_cross_encoder(folder: Path, pairs: list[tuple[str, str]]) -> list[float]:
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(folder), device="cpu")
    return [float(x) for x in model.predict(pairs)]


def _scores(outputs: list[Any]) -> list[float]:
    return [o.outputs.score for o in outputs]


def test_cross_encoder_matches_sentence_transformers(cross_encoder: Path) -> None:
    llm = LLM(str(cross_encoder), device="cpu")
    expected = _st_cross_encoder(cross_encoder, [(QUERY, d) for d in DOCS])
    assert _scores(llm.score(QUERY, DOCS)) == pytest.approx(expected, abs=1e-5)


def test_cross_encoder_equals_transformers_forward_plus_sigmoid(cross_encoder: Path) -> None:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(cross_encoder))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(cross_encoder))
    with torch.no_grad():
        logit = model(**tokenizer(QUERY, DOCS[0], return_tensors="pt")).logits[0, 0]
    (out,) = LLM(str(cross_encoder), device="cpu").score(QUERY, DOCS[0])
    assert out.outputs.score == pytest.approx(torch.sigmoid(logit).item(), abs=1e-6)


def test_pair_shapes(cross_encoder: Path) -> None:
    llm = LLM(str(cross_encoder), device="cpu")
    one_to_n = _scores(llm.score([QUERY], DOCS))
    n_to_n = _scores(llm.score([QUERY] * 3, DOCS))
    one_to_one = _scores(llm.score(QUERY, DOCS[1]))
    assert one_to_n == pytest.approx(n_to_n, abs=1e-6)
    assert one_to_one == pytest.approx([one_to_n[1]], abs=1e-6)
    with pytest.raises(
        ConfigError, match=r"Input lengths must be either 1:1, 1:N or N:N \(got 2:3\)"
    ):
        llm.score([QUERY, QUERY], DOCS)
    with pytest.raises(ConfigError, match="data_2 must be a string or a non-empty list"):
        llm.score(QUERY, [])


def test_score_without_activation_is_the_logit(cross_encoder: Path) -> None:
    from encoders import PoolingParams

    llm = LLM(str(cross_encoder), device="cpu")
    (raw,) = llm.score(QUERY, DOCS[0], pooling_params=PoolingParams(use_activation=False))
    (act,) = llm.score(QUERY, DOCS[0])
    assert torch.sigmoid(torch.tensor(raw.outputs.score)).item() == pytest.approx(
        act.outputs.score, abs=1e-6
    )


def test_long_pairs_need_truncation(cross_encoder: Path) -> None:
    llm = LLM(str(cross_encoder), device="cpu")
    long_doc = " ".join(["wing"] * 100)
    with pytest.raises(ConfigError, match="maximum context length is 64 tokens"):
        llm.score(QUERY, long_doc)
    (out,) = llm.score(QUERY, long_doc, truncate_prompt_tokens=-1)
    assert len(out.prompt_token_ids) == 64


def test_multi_label_classifier_cannot_score(tmp_path: Path) -> None:
    llm = LLM(str(make_family(tmp_path / "m", "bert", "seq", labels=3)), device="cpu")
    with pytest.raises(ValueError, match="cannot score pairs"):
        llm.score(QUERY, DOCS[0])


def test_embedding_model_score_is_cosine(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    query = torch.tensor(llm.embed(QUERY)[0].outputs.embedding)
    docs = torch.tensor([o.outputs.embedding for o in llm.embed(DOCS)])
    expected = torch.nn.functional.cosine_similarity(query[None], docs).tolist()
    assert _scores(llm.score(QUERY, DOCS)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.realmodel
def test_real_default_score_equals_cosine(minilm: Any) -> None:
    texts = ["A man is eating food.", "A man is eating a piece of bread."]
    a, b = (torch.tensor(o.outputs.embedding) for o in minilm.embed(texts))
    (out,) = minilm.score(texts[0], texts[1])
    assert out.outputs.score == pytest.approx(torch.dot(a, b).item(), abs=1e-6)
    assert out.outputs.score == pytest.approx(0.755, abs=0.001)
