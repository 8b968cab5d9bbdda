"""ColBERT checkpoints (Stanford HF_ColBERT, PyLate, ModernBERT via hf_overrides) against the
published ColBERT formulas computed here with transformers."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from encoders import LLM
from retrieval.errors import ConfigError
from tests.tiny_models import make_bert, make_family, write_dense, write_json

QUERY = "what is the air pressure on a wing?"
DOCS = ["the wing lift, and air flow.", "a cat sleeps on the street at night!"]


@pytest.fixture(scope="module")
def stanford(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HF_ColBERT layout: bert.* weights + linear.weight in one file, artifact.metadata."""
    import transformers

    folder = make_bert(tmp_path_factory.mktemp("colbertv2"), seed=21)
    model = transformers.BertModel.from_pretrained(str(folder))
    state = {f"bert.{k}": v.contiguous() for k, v in model.state_dict().items()}
    torch.manual_seed(22)
    state["linear.weight"] = torch.randn(16, 32) * 0.2
    save_file(state, str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["HF_ColBERT"]
    (folder / "config.json").write_text(json.dumps(config))
    write_json(
        folder / "artifact.metadata",
        {"query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_maxlen": 16,
         "doc_maxlen": 24, "dim": 16, "mask_punctuation": True, "attend_to_mask_tokens": False},
    )  # fmt: skip
    return folder


def _pylate_files(folder: Path) -> Path:
    write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
        ],
    )
    write_dense(
        folder / "1_Dense",
        32,
        16,
        seed=23,
        bias=False,
        activation="torch.nn.modules.linear.Identity",
    )
    write_json(
        folder / "config_sentence_transformers.json",
        {
            "query_prefix": "[Q] ",
            "document_prefix": "[D] ",
            "query_length": 12,
            "document_length": 20,
            "do_query_expansion": True,
            "attend_to_expansion_tokens": False,
            "similarity_fn_name": "MaxSim",
        },
    )
    return folder


@pytest.fixture(scope="module")
def pylate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pylate_files(make_bert(tmp_path_factory.mktemp("pylate"), seed=24))


def _reference(
    folder: Path, text: str, marker: str, length: int, query: bool, weight: torch.Tensor
) -> torch.Tensor:
    """The ColBERT recipe, written out independently of the toolkit."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModel.from_pretrained(str(folder)).eval()
    ids = tokenizer(text, truncation=True, max_length=length - 1)["input_ids"]
    ids = [ids[0], tokenizer.convert_tokens_to_ids(marker), *ids[1:]]
    mask = [1] * len(ids)
    if query:
        pad = length - len(ids)
        ids, mask = ids + [tokenizer.mask_token_id] * pad, mask + [0] * pad
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([mask]))[0][0]
    vectors = F.normalize(hidden @ weight.T, dim=-1)
    if query:
        return vectors
    punctuation = {tokenizer.encode(p, add_special_tokens=False)[0] for p in string.punctuation}
    keep = torch.tensor([i not in punctuation for i in ids])
    return vectors[keep]


def _stanford_weight(folder: Path) -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))["linear.weight"]


def test_stanford_queries_and_documents(stanford: Path) -> None:
    llm = LLM(str(stanford), device="cpu")
    assert llm.supported_tasks == ("token_embed",)
    weight = _stanford_weight(stanford)
    (q,) = llm.encode_queries(QUERY)
    assert q.shape == (16, 16)
    torch.testing.assert_close(
        q, _reference(stanford, QUERY, "[unused0]", 16, True, weight), atol=1e-5, rtol=1e-4
    )
    docs = llm.encode_documents(DOCS)
    for doc, vectors in zip(DOCS, docs, strict=True):
        expected = _reference(stanford, doc, "[unused1]", 24, False, weight)
        torch.testing.assert_close(vectors, expected, atol=1e-5, rtol=1e-4)


def test_stanford_score_is_maxsim(stanford: Path) -> None:
    llm = LLM(str(stanford), device="cpu")
    (q,) = llm.encode_queries(QUERY)
    docs = llm.encode_documents(DOCS)
    expected = [float((q @ d.T).max(dim=1).values.sum()) for d in docs]
    scores = [o.outputs.score for o in llm.score(QUERY, DOCS)]
    assert scores == pytest.approx(expected, abs=1e-4)


def test_plain_token_embed_projects_every_token(stanford: Path) -> None:
    import transformers

    llm = LLM(str(stanford), device="cpu")
    (out,) = llm.encode(QUERY, pooling_task="token_embed")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(stanford))
    model = transformers.AutoModel.from_pretrained(str(stanford)).eval()
    with torch.no_grad():
        hidden = model(**tokenizer(QUERY, return_tensors="pt"))[0][0]
    expected = F.normalize(hidden @ _stanford_weight(stanford).T, dim=-1)
    torch.testing.assert_close(out.outputs.data, expected, atol=1e-5, rtol=1e-4)


def test_pylate_folder(pylate: Path) -> None:
    from safetensors.torch import load_file

    weight = load_file(str(pylate / "1_Dense" / "model.safetensors"))["linear.weight"]
    llm = LLM(str(pylate), device="cpu")
    (q,) = llm.encode_queries(QUERY)
    torch.testing.assert_close(
        q, _reference(pylate, QUERY, "[Q]", 12, True, weight), atol=1e-5, rtol=1e-4
    )
    (d,) = llm.encode_documents(DOCS[0])
    torch.testing.assert_close(
        d, _reference(pylate, DOCS[0], "[D]", 20, False, weight), atol=1e-5, rtol=1e-4
    )


def test_modernbert_colbert_through_hf_overrides(tmp_path: Path) -> None:
    folder = _pylate_files(make_family(tmp_path / "gte-moderncolbert", "modernbert", "model"))
    llm = LLM(str(folder), device="cpu", hf_overrides={"architectures": ["ColBERTModernBertModel"]})
    assert llm.model.family == "colbert"
    (q,) = llm.encode_queries(QUERY)
    assert q.shape == (12, 16)
    assert torch.allclose(q.norm(dim=-1), torch.ones(12), atol=1e-5)


def test_dense_models_serve_token_vectors_for_maxsim(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    (q,) = llm.encode_queries(QUERY)
    (tokens,) = llm.encode(QUERY, pooling_task="token_embed")
    torch.testing.assert_close(q, tokens.outputs.data)


def _jina_flash_layout(folder: Path, *, flash_names: bool = True) -> Path:
    """Rewrite a tiny RoBERTa folder into jina-colbert-v2's on-disk shape: an ``xlm-roberta``
    config asking for rotary positions (served by Jina's custom code through ``auto_map``),
    ``roberta.``-prefixed flash-attention weights (fused ``mixer.Wqkv``, ``norm1``/``norm2``,
    ``mlp.fc1``/``fc2``, ``emb_ln``, no position table) plus ``linear.weight``. With
    ``flash_names=False`` the weights keep transformers' names: a layout nothing can run."""
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    config |= {
        "model_type": "xlm-roberta",
        "architectures": ["XLMRobertaModel"],
        "position_embedding_type": "rotary",
        "rotary_emb_base": 20000.0,
        "auto_map": {"AutoModel": "jinaai/xlm-roberta-flash-implementation--modeling_xlm_roberta"},
    }
    write_json(folder / "config.json", config)
    state = load_file(str(folder / "model.safetensors"))
    if flash_names:
        state = _flash_names(state, config["num_hidden_layers"])
    renamed = {"roberta." + k: v for k, v in state.items() if "position_embeddings" not in k}
    renamed["linear.weight"] = torch.randn(16, 32)
    save_file(renamed, str(folder / "model.safetensors"))
    return folder


def _flash_names(state: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    out = {k.replace("embeddings.LayerNorm", "emb_ln"): v for k, v in state.items()
           if not k.startswith("encoder.")}  # fmt: skip
    names = {"attention.output.dense": "mixer.out_proj", "attention.output.LayerNorm": "norm1",
             "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2",
             "output.LayerNorm": "norm2"}  # fmt: skip
    for i in range(layers):
        old, new = f"encoder.layer.{i}.", f"encoder.layers.{i}."
        for part in ("weight", "bias"):
            qkv = [state[f"{old}attention.self.{n}.{part}"] for n in ("query", "key", "value")]
            out[f"{new}mixer.Wqkv.{part}"] = torch.cat(qkv)
            for hf, flash in names.items():
                out[f"{new}{flash}.{part}"] = state[f"{old}{hf}.{part}"]
    return out


def test_jina_colbert_layout_loads_natively_without_remote_code(tmp_path: Path) -> None:
    """Full numerical checks against an independent forward: tests/encoders/test_jina_colbert.py."""
    from safetensors.torch import load_file

    folder = _jina_flash_layout(make_family(tmp_path / "jina-colbert", "roberta", "model"))
    llm = LLM(
        str(folder), device="cpu", hf_overrides={"architectures": ["ColBERTJinaRobertaModel"]}
    )
    assert llm.model.family == "colbert"
    fused = load_file(str(folder / "model.safetensors"))[
        "roberta.encoder.layers.1.mixer.Wqkv.weight"
    ]
    torch.testing.assert_close(llm.model.backbone.encoder.layers[1].mixer.Wqkv.weight, fused)
    (q,) = llm.encode_queries(QUERY)
    assert q.shape == (32, 16)
    assert torch.allclose(q.norm(dim=-1), torch.ones(32), atol=1e-5)


def test_rotary_config_with_unknown_weight_layout_is_refused_not_garbage(tmp_path: Path) -> None:
    folder = make_family(tmp_path / "jina-colbert", "roberta", "model")
    folder = _jina_flash_layout(folder, flash_names=False)
    with pytest.raises(ConfigError, match=r"'emb_ln\.weight'.*missing.*position_embedding_type"):
        LLM(str(folder), device="cpu", hf_overrides={"architectures": ["ColBERTJinaRobertaModel"]})
