"""classify / score / token_classify / reward on tiny checkpoints of each family, against a
direct transformers forward + activation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM, PoolingParams
from retrieval.errors import ConfigError
from tests.tiny_models import make_family

TEXTS = ["hello my name is", "the man is eating food", "a cat", "what is the air pressure"]
FAMILIES = ["bert", "roberta", "modernbert", "qwen3"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    built = {}
    for family in FAMILIES:
        for head in ("seq", "token"):
            built[f"{family}-{head}"] = make_family(root / f"{family}-{head}", family, head)
    built["qwen3-causal"] = make_family(root / "qwen3-causal", "qwen3", "causal")
    return built


def _hf_logits(folder: Path, text: str, auto: str) -> torch.Tensor:
    """Reference: the checkpoint's own transformers head on one unpadded input."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = getattr(transformers, auto).from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_classify_matches_transformers(models: dict[str, Path], family: str) -> None:
    folder = models[f"{family}-seq"]
    llm = LLM(str(folder), device="cpu")
    assert {"classify", "score"} <= set(llm.supported_tasks)
    outputs = llm.classify(TEXTS)
    for text, out in zip(TEXTS, outputs, strict=True):
        expected = torch.softmax(_hf_logits(folder, text, "AutoModelForSequenceClassification"), -1)
        assert out.outputs.num_classes == 3
        assert out.outputs.probs == pytest.approx(expected.tolist(), abs=1e-5)
    assert llm.id2label == {0: "LABEL_A", 1: "LABEL_B", 2: "LABEL_C"}


@pytest.mark.parametrize("family", FAMILIES)
def test_token_classify_and_reward_match_transformers(models: dict[str, Path], family: str) -> None:
    folder = models[f"{family}-token"]
    llm = LLM(str(folder), device="cpu")
    assert llm.supported_tasks == ("token_classify",)
    outputs = llm.encode(TEXTS, pooling_task="token_classify")
    rewards = llm.reward(TEXTS)
    for text, out, reward in zip(TEXTS, outputs, rewards, strict=True):
        logits = _hf_logits(folder, text, "AutoModelForTokenClassification")
        expected = torch.softmax(logits, -1)
        assert out.outputs.data.shape == (len(out.prompt_token_ids), 3)
        torch.testing.assert_close(out.outputs.data, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(reward.outputs.data, expected, atol=1e-5, rtol=1e-4)


def test_use_activation_off_gives_raw_logits(models: dict[str, Path]) -> None:
    folder = models["bert-seq"]
    llm = LLM(str(folder), device="cpu")
    expected = _hf_logits(folder, TEXTS[0], "AutoModelForSequenceClassification")
    for params in (PoolingParams(use_activation=False), PoolingParams(softmax=False)):
        (out,) = llm.classify(TEXTS[0], pooling_params=params)
        assert out.outputs.probs == pytest.approx(expected.tolist(), abs=1e-5)
    with pytest.raises(ConfigError, match="Conflicting activation settings"):
        llm.classify(TEXTS[0], pooling_params=PoolingParams(use_activation=True, softmax=False))


def test_decoder_classifier_scores_every_token(models: dict[str, Path]) -> None:
    folder = models["qwen3-seq"]
    llm = LLM(str(folder), device="cpu")
    assert "token_classify" in llm.supported_tasks
    (out,) = llm.encode(TEXTS[1], pooling_task="token_classify")
    (seq,) = llm.classify(TEXTS[1])
    # The sequence result is the LAST token's row of the per-token result.
    assert out.outputs.data[-1].tolist() == pytest.approx(seq.outputs.probs, abs=1e-5)


def test_causal_lm_converts_to_a_last_token_embedder(models: dict[str, Path]) -> None:
    import transformers

    folder = models["qwen3-causal"]
    llm = LLM(str(folder), device="cpu", runner="auto", convert="auto")
    assert llm.supported_tasks == ("embed", "token_embed")
    assert llm.model.settings.pooling_type == "LAST"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    base = transformers.AutoModel.from_pretrained(str(folder)).eval()
    for text, out in zip(TEXTS, llm.embed(TEXTS), strict=True):
        with torch.no_grad():
            hidden = base(**tokenizer(text, return_tensors="pt")).last_hidden_state[0, -1]
        expected = F.normalize(hidden, dim=0)
        assert out.outputs.embedding == pytest.approx(expected.tolist(), abs=1e-5)


def test_convert_classify_without_a_trained_head_is_refused(models: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="no trained weights for its classify head"):
        LLM(str(models["qwen3-causal"]), device="cpu", convert="classify")


def test_convert_embed_turns_a_classifier_into_an_embedder(models: dict[str, Path]) -> None:
    llm = LLM(str(models["bert-seq"]), device="cpu", convert="embed")
    assert llm.supported_tasks == ("embed", "token_embed")
    assert len(llm.embed("hello")[0].outputs.embedding) == 32


def test_tasks_a_model_lacks_fail_with_the_supported_list(
    models: dict[str, Path], bert_plain: Path
) -> None:
    with pytest.raises(
        ConfigError, match=r"does not support pooling task 'classify'.*\['embed', 'token_embed'\]"
    ):
        LLM(str(bert_plain), device="cpu").classify("hello")
    classifier = LLM(str(models["bert-seq"]), device="cpu")
    with pytest.raises(
        ConfigError, match=r"does not support pooling task 'embed'.*'classify', 'score'"
    ):
        classifier.embed("hello")
    token = LLM(str(models["bert-token"]), device="cpu")
    with pytest.raises(ConfigError, match=r"does not support pooling task 'score'"):
        token.score("a", "b")


def test_classify_model_config_keeps_labels(models: dict[str, Path]) -> None:
    config = json.loads((models["roberta-seq"] / "config.json").read_text())
    assert config["id2label"]["1"] == "LABEL_B"


@pytest.mark.parametrize("family", ["roberta", "modernbert"])
def test_encoder_families_embed_with_cls_default(tmp_path: Path, family: str) -> None:
    import transformers

    folder = make_family(tmp_path / family, family, "model")
    llm = LLM(str(folder), device="cpu")
    assert llm.model.settings.pooling_type == "CLS"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    base = transformers.AutoModel.from_pretrained(str(folder)).eval()
    outputs = llm.embed(TEXTS)
    for text, out in zip(TEXTS, outputs, strict=True):
        with torch.no_grad():
            hidden = base(**tokenizer(text, return_tensors="pt")).last_hidden_state[0, 0]
        assert out.outputs.embedding == pytest.approx(F.normalize(hidden, dim=0).tolist(), abs=1e-5)


@pytest.mark.parametrize(
    ("config_key", "value", "expected"),
    [
        (
            "sentence_transformers",
            {"activation_fn": "torch.nn.modules.linear.Identity"},
            "Identity",
        ),
        ("sbert_ce_default_activation_function", "torch.nn.modules.activation.Sigmoid", "Sigmoid"),
        ("sentence_transformers", {"activation_fn": "torch.nn.modules.activation.Tanh"}, "Tanh"),
        (None, None, "Sigmoid"),
    ],
)
def test_cross_encoder_activation_sources(
    tmp_path: Path, config_key: str | None, value: object, expected: str
) -> None:
    """vLLM: ``score`` takes the cross-encoder's own activation (get_cross_encoder_act_fn);
    ``classify`` ignores it (get_classification_act_fn: sigmoid for one label)."""
    folder = make_family(tmp_path / "ce", "bert", "seq", labels=1)
    if config_key is not None:
        config = json.loads((folder / "config.json").read_text())
        config[config_key] = value
        (folder / "config.json").write_text(json.dumps(config))
    llm = LLM(str(folder), device="cpu")
    assert llm.engine.score_activation_name == expected
    assert llm.engine.activation_name == "Sigmoid"
    logit = _hf_logits(folder, "hello", "AutoModelForSequenceClassification")[0]
    activations = {"Sigmoid": torch.sigmoid, "Identity": lambda x: x, "Tanh": torch.tanh}
    (scored,) = llm.score("hello", "world")
    pair_logit = _hf_pair_logit(folder, "hello", "world")
    assert scored.outputs.score == pytest.approx(activations[expected](pair_logit).item(), abs=1e-5)
    assert llm.classify("hello")[0].outputs.probs == pytest.approx(
        [torch.sigmoid(logit).item()], abs=1e-5
    )


def _hf_pair_logit(folder: Path, first: str, second: str) -> torch.Tensor:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return model(**tokenizer(first, second, return_tensors="pt")).logits[0, 0]


@pytest.mark.parametrize(
    ("problem_type", "labels", "expected"),
    [
        ("regression", 1, "Identity"),
        ("multi_label_classification", 3, "Sigmoid"),
        ("single_label_classification", 3, "Softmax"),
        (None, 3, "Softmax"),
    ],
)
def test_classify_activation_follows_problem_type(
    tmp_path: Path, problem_type: str | None, labels: int, expected: str
) -> None:
    """vLLM's get_classification_act_fn (transformers' ForSequenceClassification losses)."""
    folder = make_family(tmp_path / "cls", "bert", "seq", labels=labels)
    config = json.loads((folder / "config.json").read_text())
    config["problem_type"] = problem_type
    (folder / "config.json").write_text(json.dumps(config))
    llm = LLM(str(folder), device="cpu")
    assert llm.engine.activation_name == expected
    logits = _hf_logits(folder, "hello", "AutoModelForSequenceClassification")
    want = {"Identity": logits, "Sigmoid": torch.sigmoid(logits), "Softmax": logits.softmax(-1)}
    assert llm.classify("hello")[0].outputs.probs == pytest.approx(
        want[expected].tolist(), abs=1e-5
    )


def test_sentence_transformers_6_cross_encoder_activation(tmp_path: Path) -> None:
    folder = make_family(tmp_path / "ce6", "bert", "seq", labels=1)
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps(
            {"model_type": "CrossEncoder", "activation_fn": "torch.nn.modules.linear.Identity"}
        )
    )
    llm = LLM(str(folder), device="cpu")
    assert llm.engine.score_activation_name == "Identity"
    assert llm.engine.activation_name == "Sigmoid"


def test_decoder_reranker_from_its_own_tokens(models: dict[str, Path]) -> None:
    """Qwen3-Reranker style: the probability of "yes" vs "no" at the last token."""
    import transformers

    folder = models["qwen3-causal"]
    llm = LLM(
        str(folder),
        device="cpu",
        hf_overrides={
            "architectures": ["Qwen3ForSequenceClassification"],
            "classifier_from_token": ["no", "yes"],
            "is_original_qwen3_reranker": True,
        },
    )
    assert "score" in llm.supported_tasks
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    lm = transformers.AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    no, yes = tokenizer.convert_tokens_to_ids(["no", "yes"])
    docs = ["the wing lift", "a cat sleeps"]
    outputs = llm.score("what is the air pressure", docs)
    for doc, out in zip(docs, outputs, strict=True):
        with torch.no_grad():
            logits = lm(**tokenizer("what is the air pressure", doc, return_tensors="pt")).logits[
                0, -1
            ]
        expected = torch.softmax(logits[[no, yes]], dim=0)[1].item()
        assert out.outputs.score == pytest.approx(expected, abs=1e-5)


def test_classifier_from_token_without_two_way(models: dict[str, Path]) -> None:
    import transformers

    folder = models["qwen3-causal"]
    overrides = {
        "architectures": ["Qwen3ForSequenceClassification"],
        "classifier_from_token": ["no", "yes", "good"],
    }
    llm = LLM(str(folder), device="cpu", hf_overrides=overrides)
    (out,) = llm.classify("hello my name is", pooling_params=PoolingParams(use_activation=False))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    lm = transformers.AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        logits = lm(**tokenizer("hello my name is", return_tensors="pt")).logits[0, -1]
    ids = tokenizer.convert_tokens_to_ids(["no", "yes", "good"])
    assert out.outputs.probs == pytest.approx(logits[ids].tolist(), abs=1e-4)
    bad = {**overrides, "classifier_from_token": ["no", "zzzqqq"]}
    with pytest.raises(ConfigError, match=r"missing from the vocabulary: \['zzzqqq'\]"):
        LLM(str(folder), device="cpu", hf_overrides=bad)


@pytest.mark.parametrize(
    ("architecture", "convert", "family"),
    [
        ("BertModel", "auto", "embed"),
        ("NomicBertForTextEncoding", "auto", "embed"),
        ("GteEmbeddingModel", "auto", "embed"),
        ("InternLM2ForRewardModeling", "auto", "embed"),
        ("Qwen2RewardModel", "auto", "embed"),
        ("Qwen3ForCausalLM", "auto", "embed"),
        ("BertForSequenceClassification", "auto", "classify"),
        ("GemmaClassificationModel", "auto", "classify"),
        ("BertForTokenClassification", "auto", "token_classify"),
        ("BertForMaskedLM", "auto", "sparse"),
        ("Qwen3ForCausalLM", "classify", "classify"),
        ("BertForSequenceClassification", "embed", "embed"),
        ("BgeM3EmbeddingModel", "auto", "bge_m3"),
    ],
)
def test_conversion_table(architecture: str, convert: str, family: str) -> None:
    from encoders.architectures import model_family, supported_tasks

    assert model_family([architecture], convert) == family
    expected = {
        "embed": ("embed", "token_embed"),
        "classify": ("classify", "score"),
        "token_classify": ("token_classify",),
        "sparse": ("embed",),
        "bge_m3": ("embed", "token_embed", "token_classify"),
    }[family]
    assert supported_tasks(model_family([architecture], convert), per_token_head=False) == expected
