"""The offline ``LLM`` API for classification, reward and token-classification models, ported
from vLLM:

- ``tests/entrypoints/pooling/classify/test_offline.py`` (Qwen2.5-1.5B-apeach -> tiny BERT
  classifier with two labels),
- ``tests/entrypoints/pooling/reward/test_offline.py`` (internlm2-1_8b-reward -> tiny BERT
  token head with one label),
- ``tests/models/language/pooling/test_pooler_config_init_behaviour.py`` (classify and reward
  cases),
- ``tests/models/language/pooling/test_classification.py`` and
  ``test_token_classification.py`` (vLLM vs Hugging Face transformers on the same folder:
  softmax of the HF logits; tiny BERT / ModernBERT / Qwen3 checkpoints for the named ones).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from encoders import LLM, ClassificationRequestOutput, PoolingParams
from tests.tiny_models import make_family
from tests.vllm_peer.helpers import softmax

PROMPT = "the chef prepared a very good meal"
PROMPTS = [
    "hello my name is",
    "the cat sleeps on the street",
    "what is the air pressure on a wing",
    "a new model for search and retrieval",
]


@pytest.fixture(scope="module")
def prompt_token_ids(peer_classifier_path: Path) -> list[int]:
    from transformers import AutoTokenizer

    return list(AutoTokenizer.from_pretrained(str(peer_classifier_path))(PROMPT)["input_ids"])


# -- classify/test_offline.py --------------------------------------------------------------------
def test_str_prompts(peer_classifier: LLM, prompt_token_ids: list[int]) -> None:
    outputs = peer_classifier.classify(PROMPT, use_tqdm=False)
    assert len(outputs) == 1
    assert isinstance(outputs[0], ClassificationRequestOutput)
    assert outputs[0].prompt_token_ids == prompt_token_ids
    assert len(outputs[0].outputs.probs) == 2


def test_token_ids_prompts(peer_classifier: LLM, prompt_token_ids: list[int]) -> None:
    outputs = peer_classifier.classify([prompt_token_ids], use_tqdm=False)
    assert len(outputs) == 1
    assert isinstance(outputs[0], ClassificationRequestOutput)
    assert outputs[0].prompt_token_ids == prompt_token_ids
    assert len(outputs[0].outputs.probs) == 2


def test_list_prompts(peer_classifier: LLM, prompt_token_ids: list[int]) -> None:
    outputs = peer_classifier.classify([PROMPT, prompt_token_ids], use_tqdm=False)
    assert len(outputs) == 2
    for output in outputs:
        assert isinstance(output, ClassificationRequestOutput)
        assert output.prompt_token_ids == prompt_token_ids
        assert len(output.outputs.probs) == 2


def test_pooling_params(peer_classifier: LLM) -> None:
    def outputs(use_activation: bool | None) -> torch.Tensor:
        params = PoolingParams(use_activation=use_activation)
        got = peer_classifier.classify(PROMPT, pooling_params=params, use_tqdm=False)
        return torch.tensor([x.outputs.probs for x in got])

    default, w, wo = outputs(None), outputs(True), outputs(False)
    assert torch.allclose(default, w, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w, wo, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(softmax(wo), w, atol=1e-2)


def test_score_api(peer_classifier: LLM) -> None:
    with pytest.raises(ValueError, match="Scoring API is only enabled for num_labels == 1."):
        peer_classifier.score("ping", "pong", use_tqdm=False)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("embed", "Embedding API is not supported by this model.+"),
        ("token_embed", "Embedding API is not supported by this model.+"),
        ("plugin", "No IOProcessor plugin installed."),
    ],
)
def test_unsupported_tasks(peer_classifier: LLM, task: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        peer_classifier.encode(PROMPT, pooling_task=task, use_tqdm=False)


# -- reward/test_offline.py::test_pooling_params -------------------------------------------------
def test_reward_pooling_params(peer_reward: LLM) -> None:
    def outputs(use_activation: bool | None) -> torch.Tensor:
        params = PoolingParams(use_activation=use_activation)
        got = peer_reward.reward([PROMPT], pooling_params=params, use_tqdm=False)
        return torch.cat([x.outputs.data for x in got])

    default, w, wo = outputs(None), outputs(True), outputs(False)
    assert torch.allclose(default, w, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w, wo, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(softmax(wo), w, atol=1e-2)


# -- models/.../test_pooler_config_init_behaviour.py (classify, reward) --------------------------
def _pair(path: Path) -> tuple[LLM, LLM]:
    without = LLM(str(path), device="cpu", pooler_config={"use_activation": False})
    return without, LLM(str(path), device="cpu", pooler_config={"use_activation": True})


def test_classify_models_using_activation(peer_classifier_path: Path) -> None:
    without, with_ = _pair(peer_classifier_path)
    for o_wo, o_w in zip(without.classify(PROMPTS), with_.classify(PROMPTS), strict=True):
        wo, w = torch.tensor(o_wo.outputs.probs), torch.tensor(o_w.outputs.probs)
        assert not torch.allclose(wo, w, atol=1e-2), "pooler_config is not working"
        assert torch.allclose(softmax(wo), w, 1e-3)


def test_reward_models_using_activation(peer_reward_path: Path) -> None:
    without, with_ = _pair(peer_reward_path)
    for o_wo, o_w in zip(without.reward(PROMPTS), with_.reward(PROMPTS), strict=True):
        wo, w = o_wo.outputs.data, o_w.outputs.data
        assert not torch.allclose(wo, w, atol=1e-2), "pooler_config activation is not working"
        assert torch.allclose(softmax(wo), w, atol=1e-2)


# -- models/.../test_classification.py, test_token_classification.py -----------------------------
def _hf_softmax(folder: Path, auto_cls: str, prompts: list[str]) -> list[torch.Tensor]:
    """vLLM's ``hf_runner``: one prompt at a time through transformers, softmax of logits."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = getattr(transformers, auto_cls).from_pretrained(str(folder)).eval()
    outputs = []
    with torch.inference_mode():
        for prompt in prompts:
            logits = model(**tokenizer([prompt], return_tensors="pt")).logits[0]
            outputs.append(softmax(logits))
    return outputs


def test_classification_models(peer_classifier: LLM, peer_classifier_path: Path) -> None:
    expected = _hf_softmax(peer_classifier_path, "AutoModelForSequenceClassification", PROMPTS)
    got = [torch.tensor(o.outputs.probs) for o in peer_classifier.classify(PROMPTS)]
    for hf_output, vllm_output in zip(expected, got, strict=True):
        assert torch.allclose(hf_output, vllm_output, rtol=2e-3)


# test_bert_like_models (NeuroBERT-NER), test_modernbert_models (electrical-ner-ModernBERT),
# test_auto_conversion (Qwen3 *ForTokenClassification): tiny checkpoints of each family.
@pytest.mark.parametrize("family", ["bert", "modernbert", "qwen3"])
def test_token_classification(tmp_path: Path, family: str) -> None:
    folder = make_family(tmp_path / family, family, "token", labels=5, seed=24)
    llm = LLM(str(folder), device="cpu")
    expected = _hf_softmax(folder, "AutoModelForTokenClassification", PROMPTS)
    got = [o.outputs.data for o in llm.encode(PROMPTS, pooling_task="token_classify")]
    for hf_output, vllm_output in zip(expected, got, strict=True):
        torch.testing.assert_close(hf_output, vllm_output.float(), atol=3.2e-2, rtol=1e-3)


# token_classify on encoder sequence classifiers (the cross-encoder online files assert its
# shape); the values follow vLLM's DispatchPooler.for_seq_cls: the classifier on every token.
@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_seq_classifier_token_classify(tmp_path: Path, family: str) -> None:
    import transformers

    folder = make_family(tmp_path / family, family, "seq", labels=3, seed=25)
    llm = LLM(str(folder), device="cpu")
    assert "token_classify" in llm.supported_tasks
    (out,) = llm.encode(PROMPTS[1], pooling_task="token_classify")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    inputs = transformers.AutoTokenizer.from_pretrained(str(folder))(
        PROMPTS[1], return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = model.base_model(**inputs).last_hidden_state[0]
        head = model.classifier
        logits = head(hidden) if family == "bert" else head.out_proj(torch.tanh(head.dense(hidden)))
    assert out.outputs.data.shape == (inputs["input_ids"].shape[1], 3)
    torch.testing.assert_close(out.outputs.data, torch.softmax(logits, -1), atol=1e-5, rtol=1e-4)
