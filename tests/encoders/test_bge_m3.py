"""BGE-M3 on a tiny XLM-RoBERTa checkpoint with its two .pt heads (``tests/tiny_bge_m3.py``),
against the published formulas computed here with transformers, and vLLM's rule for which
positions get a lexical weight / ColBERT vector (its ``BOSEOSFilter``). The comparison with
FlagEmbedding itself is in ``tests/reference/test_bge_m3_flagembedding.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM, PoolingParams
from retrieval.errors import ConfigError
from tests.tiny_bge_m3 import make_bge_m3

OVERRIDE = {"architectures": ["BgeM3EmbeddingModel"]}
TEXTS = ["what is the air pressure on a wing", "a cat sleeps on the street at night"]
BOS, EOS = 0, 2


@pytest.fixture(scope="module")
def m3_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bge_m3(tmp_path_factory.mktemp("bge_m3"))


@pytest.fixture(scope="module")
def m3(m3_folder: Path) -> LLM:
    return LLM(str(m3_folder), device="cpu", hf_overrides=OVERRIDE)


def _heads(folder: Path) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    colbert = torch.nn.Linear(32, 32)
    colbert.load_state_dict(torch.load(folder / "colbert_linear.pt", weights_only=True))
    sparse = torch.nn.Linear(32, 1)
    sparse.load_state_dict(torch.load(folder / "sparse_linear.pt", weights_only=True))
    return colbert, sparse


def _reference(
    folder: Path, text: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Dense, per-token weights and ColBERT vectors of every position, and the token ids."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModel.from_pretrained(str(folder)).eval()
    colbert, sparse = _heads(folder)
    batch = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state[0]
        dense = F.normalize(hidden[0], dim=-1)
        weights = torch.relu(sparse(hidden)).squeeze(-1)
        vectors = F.normalize(colbert(hidden), dim=-1)
    return dense, weights, vectors, batch["input_ids"][0].tolist()


def test_three_outputs_match_the_formulas(m3_folder: Path, m3: LLM) -> None:
    assert m3.supported_tasks == ("embed", "token_embed", "token_classify")
    dense = m3.embed(TEXTS)
    colbert = m3.encode(TEXTS, pooling_task="token_embed")
    weights = m3.encode(TEXTS, pooling_task="token_classify")
    hybrid = m3.embed_hybrid(TEXTS)
    for i, text in enumerate(TEXTS):
        ref_dense, ref_weights, ref_vectors, ids = _reference(m3_folder, text)
        assert (ids[0], ids[-1]) == (BOS, EOS)
        assert dense[i].outputs.embedding == pytest.approx(ref_dense.tolist(), abs=1e-5)
        # vLLM: ColBERT vectors without the BOS position, weights without BOS and EOS.
        torch.testing.assert_close(colbert[i].outputs.data, ref_vectors[1:], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(weights[i].outputs.data, ref_weights[1:-1], atol=1e-5, rtol=1e-4)
        # One forward pass gives all three, identical to the separate calls.
        assert hybrid[i].outputs.dense == pytest.approx(ref_dense.tolist(), abs=1e-5)
        torch.testing.assert_close(
            hybrid[i].outputs.multi_vector, ref_vectors[1:], atol=1e-5, rtol=1e-4
        )
        special = {0, 1, 2, 3}  # <s>, <pad>, </s>, <unk>
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


def test_weights_pair_with_the_tokens_after_the_first(m3: LLM) -> None:
    """vLLM's documented pairing: ``/tokenize``, drop the first token, zip with the weights."""
    (out,) = m3.encode(TEXTS[0], pooling_task="token_classify")
    ids = m3.get_tokenizer()(TEXTS[0])["input_ids"]
    assert out.prompt_token_ids == ids
    assert len(out.outputs.data) == len(ids) - 2
    pairs = list(zip(ids[1:], out.outputs.data.tolist(), strict=False))
    assert [t for t, _ in pairs] == ids[1:-1]  # zip stops before the EOS


def test_only_a_leading_bos_and_a_trailing_eos_are_dropped(m3: LLM) -> None:
    """Token-id prompts: a right-truncated input has no EOS, so its last position keeps its
    weight; an input without special tokens keeps every position (vLLM's BOSEOSFilter)."""
    ids = m3.get_tokenizer()(TEXTS[0])["input_ids"]
    (cut,) = m3.encode([ids], pooling_task="token_classify", truncate_prompt_tokens=5)
    assert cut.prompt_token_ids == ids[:5]
    assert len(cut.outputs.data) == 4  # BOS dropped, no EOS to drop
    bare_ids = ids[1:-1]
    (bare,) = m3.encode([bare_ids], pooling_task="token_classify")
    (bare_vectors,) = m3.encode([bare_ids], pooling_task="token_embed")
    assert len(bare.outputs.data) == len(bare_ids)
    assert bare_vectors.outputs.data.shape == (len(bare_ids), 32)
    (sparse,) = m3.embed_sparse([bare_ids])
    assert set(sparse.outputs.indices) <= set(bare_ids)


def test_use_activation_false_gives_the_raw_heads(m3: LLM) -> None:
    """As vLLM: no ReLU on the lexical weights, no normalization of the ColBERT vectors."""
    raw = PoolingParams(use_activation=False)
    (weights,) = m3.encode(TEXTS[1], raw, pooling_task="token_classify")
    (relu,) = m3.encode(TEXTS[1], pooling_task="token_classify")
    torch.testing.assert_close(torch.relu(weights.outputs.data), relu.outputs.data)
    (vectors,) = m3.encode(TEXTS[1], raw, pooling_task="token_embed")
    (normed,) = m3.encode(TEXTS[1], pooling_task="token_embed")
    torch.testing.assert_close(F.normalize(vectors.outputs.data, dim=-1), normed.outputs.data)
    assert not torch.allclose(vectors.outputs.data.norm(dim=-1), torch.ones(1))


def test_embed_sparse_reads_tokens_directly(m3: LLM) -> None:
    (out,) = m3.embed_sparse(TEXTS[0])
    (hybrid,) = m3.embed_hybrid(TEXTS[0])
    assert out.outputs.indices == hybrid.outputs.sparse.indices
    tokens = {t["token"] for t in out.outputs.to_dict()}
    assert tokens <= {"▁" + w for w in TEXTS[0].split()}


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
