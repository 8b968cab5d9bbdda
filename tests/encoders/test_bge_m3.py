"""BGE-M3 on a tiny XLM-RoBERTa checkpoint with its two .pt heads, against FlagEmbedding's
published formulas computed here with transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM
from retrieval.errors import ConfigError
from tests.tiny_models import make_family

OVERRIDE = {"architectures": ["BgeM3EmbeddingModel"]}
TEXTS = ["what is the air pressure on a wing", "a cat sleeps on the street at night"]


@pytest.fixture(scope="module")
def m3_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_family(tmp_path_factory.mktemp("bge_m3"), "roberta", "model", seed=11)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "xlm-roberta"
    config["architectures"] = ["XLMRobertaModel"]
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(12)
    # The real checkpoint's format: nn.Linear state dicts saved with torch.save.
    torch.save(torch.nn.Linear(32, 32).state_dict(), folder / "colbert_linear.pt")
    torch.save(torch.nn.Linear(32, 1).state_dict(), folder / "sparse_linear.pt")
    return folder


def _reference(
    folder: Path, text: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModel.from_pretrained(str(folder)).eval()
    colbert = torch.nn.Linear(32, 32)
    colbert.load_state_dict(torch.load(folder / "colbert_linear.pt", weights_only=True))
    sparse = torch.nn.Linear(32, 1)
    sparse.load_state_dict(torch.load(folder / "sparse_linear.pt", weights_only=True))
    batch = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state[0]
        dense = F.normalize(hidden[0], dim=-1)
        weights = torch.relu(sparse(hidden)).squeeze(-1)
        vectors = F.normalize(colbert(hidden[1:]), dim=-1)
    return dense, weights, vectors, batch["input_ids"][0].tolist()


def test_three_outputs_match_the_formulas(m3_folder: Path) -> None:
    llm = LLM(str(m3_folder), device="cpu", hf_overrides=OVERRIDE)
    assert llm.supported_tasks == ("embed", "token_embed", "token_classify")
    dense = llm.embed(TEXTS)
    colbert = llm.encode(TEXTS, pooling_task="token_embed")
    weights = llm.encode(TEXTS, pooling_task="token_classify")
    hybrid = llm.embed_hybrid(TEXTS)
    for i, text in enumerate(TEXTS):
        ref_dense, ref_weights, ref_vectors, ids = _reference(m3_folder, text)
        assert dense[i].outputs.embedding == pytest.approx(ref_dense.tolist(), abs=1e-5)
        torch.testing.assert_close(colbert[i].outputs.data, ref_vectors, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(weights[i].outputs.data, ref_weights, atol=1e-5, rtol=1e-4)
        # One forward pass gives all three, identical to the separate calls.
        assert hybrid[i].outputs.dense == pytest.approx(ref_dense.tolist(), abs=1e-5)
        torch.testing.assert_close(
            hybrid[i].outputs.multi_vector, ref_vectors, atol=1e-5, rtol=1e-4
        )
        special = {0, 2, 3, 1}  # [PAD], [CLS], [SEP], [UNK] in the tiny vocabulary
        expected: dict[int, float] = {}
        for token_id, w in zip(ids, ref_weights.tolist(), strict=True):
            if token_id not in special and w > 0:
                expected[token_id] = max(w, expected.get(token_id, 0.0))
        lexical = dict(
            zip(hybrid[i].outputs.sparse.indices, hybrid[i].outputs.sparse.values, strict=True)
        )
        assert lexical.keys() == expected.keys()
        for token_id, w in expected.items():
            assert lexical[token_id] == pytest.approx(w, abs=1e-5)


def test_embed_sparse_reads_tokens_directly(m3_folder: Path) -> None:
    llm = LLM(str(m3_folder), device="cpu", hf_overrides=OVERRIDE)
    (out,) = llm.embed_sparse(TEXTS[0])
    (hybrid,) = llm.embed_hybrid(TEXTS[0])
    assert out.outputs.indices == hybrid.outputs.sparse.indices
    tokens = {t["token"] for t in out.outputs.to_dict()}
    assert tokens <= set(TEXTS[0].split()) | {"##" + c for c in "abcdefghijklmnopqrstuvwxyz"}


def test_missing_head_file_is_a_clear_error(m3_folder: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "incomplete"
    shutil.copytree(m3_folder, folder)
    (folder / "sparse_linear.pt").unlink()
    with pytest.raises(ConfigError, match="BGE-M3 head 'sparse_linear' is missing"):
        LLM(str(folder), device="cpu", hf_overrides=OVERRIDE)


def test_without_the_override_it_is_a_plain_dense_model(m3_folder: Path) -> None:
    llm = LLM(str(m3_folder), device="cpu")
    assert llm.supported_tasks == ("embed", "token_embed")
    with pytest.raises(ConfigError, match="is not a sparse model"):
        llm.embed_sparse("hello")
