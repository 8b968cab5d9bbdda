"""jina-colbert-v2 on the native Jina XLM-RoBERTa backbone (no remote code), checked against an
independent forward pass written here with plain formulas: explicit softmax attention,
rotary positions as complex rotations, post-LN blocks, erf GELU, projection, L2 norm.

The tiny checkpoint is written in the real on-disk layout: an ``xlm-roberta`` config with
``position_embedding_type: "rotary"``, ``rotary_emb_base`` and an ``auto_map`` to Jina's code
repository; ``roberta.``-prefixed flash-attention weight names plus ColBERT ``linear.weight``;
a SentencePiece-style XLM-R tokenizer with the ``[QueryMarker]`` / ``[DocumentMarker]`` tokens.
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from encoders import LLM
from retrieval.errors import ConfigError
from tests.tiny_models import WORDS, write_json

HIDDEN, HEADS, LAYERS, INNER, DIM, BASE = 32, 4, 2, 64, 16, 20000.0
OVERRIDE = {"architectures": ["ColBERTJinaRobertaModel"]}
QUERY = "what is the air pressure on a wing?"
DOCS = ["the wing lift, and air flow.", "a cat sleeps on the street at night!"]


def _tokenizer(folder: Path) -> int:
    """An XLM-R (Unigram, <s> ... </s>, pad id 1) tokenizer; returns its size."""
    from transformers import XLMRobertaTokenizerFast

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = [f"\u2581{w}" for w in WORDS] + letters + [f"\u2581{c}" for c in letters]
    pieces += [*".,;:!?", "\u2581"]
    vocab = [(s, 0.0) for s in ("<s>", "<pad>", "</s>", "<unk>")]
    vocab += [(p, -1.0 - i / 100) for i, p in enumerate(dict.fromkeys(pieces))]
    tokenizer = XLMRobertaTokenizerFast(vocab=[*vocab, ("<mask>", 0.0)])
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["[QueryMarker]", "[DocumentMarker]"]}
    )
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(str(folder))
    return len(tokenizer)


def _weights(vocab: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    def norm(name: str) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": 1 + rand(HIDDEN, scale=0.1), f"{name}.bias": rand(HIDDEN)}

    state = {
        "roberta.embeddings.word_embeddings.weight": rand(vocab, HIDDEN, scale=1.0),
        "roberta.embeddings.token_type_embeddings.weight": rand(1, HIDDEN),
        **norm("roberta.emb_ln"),
        "roberta.pooler.dense.weight": rand(HIDDEN, HIDDEN),  # unused, as on the Hub
        "roberta.pooler.dense.bias": rand(HIDDEN),
        "linear.weight": rand(DIM, HIDDEN),
    }
    for i in range(LAYERS):
        p = f"roberta.encoder.layers.{i}"
        shapes = {"mixer.Wqkv": (3 * HIDDEN, HIDDEN), "mixer.out_proj": (HIDDEN, HIDDEN),
                  "mlp.fc1": (INNER, HIDDEN), "mlp.fc2": (HIDDEN, INNER)}  # fmt: skip
        for name, (rows, cols) in shapes.items():
            state[f"{p}.{name}.weight"] = rand(rows, cols)
            state[f"{p}.{name}.bias"] = rand(rows, scale=0.05)
        state |= norm(f"{p}.norm1") | norm(f"{p}.norm2")
    return state


def make_jina_colbert(folder: Path, seed: int = 7) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = _tokenizer(folder)
    write_json(
        folder / "config.json",
        {"model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"],
         "auto_map": {"AutoConfig": "jinaai/xlm-roberta-flash-implementation--configuration_xlm_roberta.XLMRobertaFlashConfig",  # noqa: E501
                      "AutoModel": "jinaai/xlm-roberta-flash-implementation--modeling_xlm_roberta.XLMRobertaModel"},  # noqa: E501
         "vocab_size": vocab, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
         "num_attention_heads": HEADS, "intermediate_size": INNER, "hidden_act": "gelu",
         "max_position_embeddings": 66, "type_vocab_size": 1, "layer_norm_eps": 1e-5,
         "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
         "position_embedding_type": "rotary", "rotary_emb_base": BASE, "use_flash_attn": True},
    )  # fmt: skip
    save_file(_weights(vocab, seed), str(folder / "model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def jina(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jina_colbert(tmp_path_factory.mktemp("jina-colbert-v2"))


@pytest.fixture(scope="module")
def llm(jina: Path) -> LLM:
    return LLM(str(jina), device="cpu", hf_overrides=OVERRIDE)


# -- the independent reference ------------------------------------------------------------------
def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def _rotary(x: torch.Tensor) -> torch.Tensor:
    """``(l, heads, d)``: channel i pairs with i + d/2 as one complex number, rotated by
    ``position * BASE^(-2i/d)``."""
    d = x.shape[-1]
    z = torch.complex(x[..., : d // 2].double(), x[..., d // 2 :].double())
    freqs = BASE ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.arange(x.shape[0], dtype=torch.float64)[:, None] * freqs  # (l, d/2)
    z = z * torch.polar(torch.ones_like(angles), angles)[:, None, :]
    return torch.cat((z.real, z.imag), dim=-1).float()


def reference_hidden(
    folder: Path, ids: list[int], weights: dict[str, torch.Tensor] | None = None
) -> torch.Tensor:
    """Last hidden states ``(l, HIDDEN)`` of one unpadded sequence."""
    state = weights if weights is not None else load_file(str(folder / "model.safetensors"))
    w = {k.removeprefix("roberta."): v for k, v in state.items()}
    tokens = torch.tensor(ids)
    x = (
        w["embeddings.word_embeddings.weight"][tokens]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["emb_ln.weight"], w["emb_ln.bias"])
    head = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"encoder.layers.{i}."
        qkv = x @ w[p + "mixer.Wqkv.weight"].T + w[p + "mixer.Wqkv.bias"]
        q, k, v = (t.reshape(len(ids), HEADS, head) for t in qkv.split(HIDDEN, dim=-1))
        q, k = _rotary(q), _rotary(k)
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head)
        weights = torch.exp(scores - scores.amax(-1, keepdim=True))
        weights = weights / weights.sum(-1, keepdim=True)
        attn = torch.einsum("hqk,khd->qhd", weights, v).reshape(len(ids), HIDDEN)
        attn = attn @ w[p + "mixer.out_proj.weight"].T + w[p + "mixer.out_proj.bias"]
        x = _layer_norm(x + attn, w[p + "norm1.weight"], w[p + "norm1.bias"])
        h = x @ w[p + "mlp.fc1.weight"].T + w[p + "mlp.fc1.bias"]
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        h = h @ w[p + "mlp.fc2.weight"].T + w[p + "mlp.fc2.bias"]
        x = _layer_norm(x + h, w[p + "norm2.weight"], w[p + "norm2.bias"])
    return x


def reference_vectors(folder: Path, ids: list[int]) -> torch.Tensor:
    projection = load_file(str(folder / "model.safetensors"))["linear.weight"]
    out = reference_hidden(folder, ids) @ projection.T
    return out / out.norm(dim=-1, keepdim=True)


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


# -- tests --------------------------------------------------------------------------------------
def test_token_embed_matches_the_reference_forward(llm: LLM, jina: Path) -> None:
    assert llm.model.family == "colbert"
    ids = llm.model.tokenizer(QUERY)["input_ids"]
    (out,) = llm.encode(QUERY, pooling_task="token_embed")
    # vLLM's token_embed: every token (<s> and </s> included), projected and normalized.
    assert out.outputs.data.shape == (len(ids), DIM)
    close(out.outputs.data, reference_vectors(jina, ids))


def test_queries_get_the_marker_and_mask_expansion(llm: LLM, jina: Path) -> None:
    tok = llm.model.tokenizer
    ids = tok(QUERY)["input_ids"]
    marked = [ids[0], tok.convert_tokens_to_ids("[QueryMarker]"), *ids[1:]]
    marked += [tok.mask_token_id] * (32 - len(marked))
    (q,) = llm.encode_queries(QUERY)
    # jina-colbert-v2 attends to its <mask> expansion (all 32 positions are real tokens).
    close(q, reference_vectors(jina, marked))


def test_documents_get_the_marker_and_drop_punctuation(llm: LLM, jina: Path) -> None:
    tok = llm.model.tokenizer
    ids = tok(DOCS[0])["input_ids"]
    marked = [ids[0], tok.convert_tokens_to_ids("[DocumentMarker]"), *ids[1:]]
    punct = {tok.convert_tokens_to_ids(c) for c in string.punctuation} - {tok.unk_token_id}
    keep = torch.tensor([t not in punct for t in marked])
    assert not keep.all()  # the "," and "." of the document are dropped
    (d,) = llm.encode_documents(DOCS[0])
    close(d, reference_vectors(jina, marked)[keep])


def test_batching_and_padding_do_not_change_vectors(llm: LLM) -> None:
    long = "the " + " ".join(["very"] * 20) + " old city at night"
    alone = llm.encode(DOCS[1], pooling_task="token_embed")[0].outputs.data
    batched = llm.encode([long, DOCS[1]], pooling_task="token_embed")[1].outputs.data
    close(batched, alone)
    docs_alone = llm.encode_documents(DOCS[0])[0]
    docs_batched = llm.encode_documents([long, DOCS[0]])[1]
    close(docs_batched, docs_alone)


def test_rotary_positions_matter(llm: LLM) -> None:
    """Without positions a transformer is permutation-equivariant: permuted tokens would give
    the same vectors permuted. With rotary positions they do not."""
    ids = llm.model.tokenizer("the cat sleeps on the street")["input_ids"]
    perm = [0, *reversed(range(1, len(ids) - 1)), len(ids) - 1]
    straight = llm.encode({"prompt_token_ids": ids}, pooling_task="token_embed")[0]
    permuted = llm.encode({"prompt_token_ids": [ids[i] for i in perm]}, pooling_task="token_embed")
    assert (permuted[0].outputs.data - straight.outputs.data[perm]).abs().max() > 1e-2


def test_maxsim_scores_rank_with_the_same_vectors(llm: LLM) -> None:
    (q,) = llm.encode_queries(QUERY)
    docs = llm.encode_documents(DOCS)
    expected = [float((q @ d.T).max(dim=1).values.sum()) for d in docs]
    scores = [o.outputs.score for o in llm.score(QUERY, DOCS)]
    assert scores == pytest.approx(expected, rel=1e-4)


def test_embed_without_override_is_the_normalized_cls_state(jina: Path) -> None:
    llm = LLM(str(jina), device="cpu")  # plain XLMRobertaModel: an embedding model (CLS)
    ids = llm.model.tokenizer(DOCS[1])["input_ids"]
    (out,) = llm.embed(DOCS[1])
    cls = reference_hidden(jina, ids)[0]
    close(torch.tensor(out.outputs.embedding), cls / cls.norm())


def _edit_weights(folder: Path, edit: dict[str, torch.Tensor | None]) -> None:
    state = load_file(str(folder / "model.safetensors"))
    for key, value in edit.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    save_file(state, str(folder / "model.safetensors"))


def test_missing_weight_is_a_clear_error(tmp_path: Path) -> None:
    folder = make_jina_colbert(tmp_path / "m")
    _edit_weights(folder, {"roberta.encoder.layers.1.mlp.fc2.weight": None})
    with pytest.raises(ConfigError, match=r"'encoder\.layers\.1\.mlp\.fc2\.weight'.*missing"):
        LLM(str(folder), device="cpu", hf_overrides=OVERRIDE)


def test_misshaped_weight_names_key_and_shapes(tmp_path: Path) -> None:
    folder = make_jina_colbert(tmp_path / "s")
    _edit_weights(folder, {"roberta.encoder.layers.0.mixer.Wqkv.weight": torch.zeros(64, HIDDEN)})
    with pytest.raises(
        ConfigError, match=r"'encoder\.layers\.0\.mixer\.Wqkv\.weight'.*\(64, 32\).*\(96, 32\)"
    ):
        LLM(str(folder), device="cpu", hf_overrides=OVERRIDE)


def test_inconsistent_rotary_config_is_refused(tmp_path: Path) -> None:
    folder = make_jina_colbert(tmp_path / "r")
    config = json.loads((folder / "config.json").read_text())
    write_json(folder / "config.json", config | {"rotary_emb_dim": 12})
    with pytest.raises(ConfigError, match=r"rotary_emb_dim 12"):
        LLM(str(folder), device="cpu", hf_overrides=OVERRIDE)


TASKS = ["retrieval.query", "retrieval.passage", "text-matching"]
RANK, ALPHA = 2, 3.0


def make_jina_v3(folder: Path) -> Path:
    """jina-embeddings-v3's layout: every linear and embedding weight of the backbone stored
    as a torch parametrization with one LoRA (A, B) pair per task."""
    make_jina_colbert(folder, seed=9)
    g = torch.Generator().manual_seed(10)
    state = load_file(str(folder / "model.safetensors"))
    del state["linear.weight"]
    for key in [k for k in state if k.endswith(".weight") and "norm" not in k and "_ln" not in k]:
        rows, cols = state[key].shape
        base = key.removesuffix(".weight") + ".parametrizations.weight"
        state[f"{base}.original"] = state.pop(key)
        if key.endswith("_embeddings.weight"):  # A: (tasks, vocab, r), B: (tasks, r, hidden)
            a, b = torch.randn(3, rows, RANK, generator=g), torch.randn(3, RANK, cols, generator=g)
        else:  # A: (tasks, r, in), B: (tasks, out, r)
            a, b = torch.randn(3, RANK, cols, generator=g), torch.randn(3, rows, RANK, generator=g)
        state[f"{base}.0.lora_A"], state[f"{base}.0.lora_B"] = a * 0.1, b * 0.1
    save_file(state, str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    extra = {"lora_adaptations": TASKS, "lora_rank": RANK, "lora_alpha": ALPHA,
             "load_trained_adapters": True}  # fmt: skip
    write_json(folder / "config.json", config | extra)
    return folder


def merged_weights(folder: Path, task: int) -> dict[str, torch.Tensor]:
    """The published LoRA formula: linear ``W + B A * alpha / r``, embedding ``W + A B``."""
    state = load_file(str(folder / "model.safetensors"))
    merged = {k: v for k, v in state.items() if ".parametrizations." not in k}
    for key in [k for k in state if k.endswith(".original")]:
        base = key.removesuffix(".parametrizations.weight.original")
        a = state[f"{base}.parametrizations.weight.0.lora_A"][task]
        b = state[f"{base}.parametrizations.weight.0.lora_B"][task]
        if base.endswith("_embeddings"):
            delta = torch.einsum("vr,rh->vh", a, b)
        else:
            delta = torch.einsum("or,ri->oi", b, a)
        merged[f"{base}.weight"] = state[key] + delta * ALPHA / RANK
    return merged


@pytest.fixture(scope="module")
def jina_v3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jina_v3(tmp_path_factory.mktemp("jina-embeddings-v3"))


@pytest.mark.parametrize(("override", "task"), [(None, 2), ("retrieval.query", 0)])
def test_lora_adapter_is_merged_like_vllm(jina_v3: Path, override: str | None, task: int) -> None:
    """vLLM merges the last adapter (text-matching); ``lora_adaptation`` picks another."""
    overrides = {"lora_adaptation": override} if override else None
    llm = LLM(str(jina_v3), device="cpu", hf_overrides=overrides)
    ids = llm.model.tokenizer(DOCS[1])["input_ids"]
    (out,) = llm.embed(DOCS[1])
    cls = reference_hidden(jina_v3, ids, merged_weights(jina_v3, task))[0]
    close(torch.tensor(out.outputs.embedding), cls / cls.norm())
    other = reference_hidden(jina_v3, ids, merged_weights(jina_v3, 1))[0]
    assert (torch.tensor(out.outputs.embedding) - other / other.norm()).abs().max() > 1e-3


def test_unknown_lora_adaptation_lists_the_valid_ones(jina_v3: Path) -> None:
    with pytest.raises(ConfigError, match=r"'classification'.*retrieval\.query, retrieval"):
        LLM(str(jina_v3), device="cpu", hf_overrides={"lora_adaptation": "classification"})


def test_bfloat16_stays_close_to_the_float32_reference(jina: Path) -> None:
    llm = LLM(str(jina), device="cpu", dtype="bfloat16", hf_overrides=OVERRIDE)
    ids = llm.model.tokenizer(QUERY)["input_ids"]
    (out,) = llm.encode(QUERY, pooling_task="token_embed")
    expected = reference_vectors(jina, ids)
    cosine = (out.outputs.data.float() * expected).sum(-1)
    assert cosine.min() > 0.99
