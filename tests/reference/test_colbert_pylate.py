"""PyLate ColBERT folders, checked against PyLate itself (``pylate`` 1.6.0 in its own reference
environment, scripts/reference_envs/pylate.sh).

PyLate builds each tiny random checkpoint from a base model (BERT with the real
bert-base-uncased vocabulary, or ModernBERT with a byte-level BPE tokenizer), adds its Dense
projection and its ``[Q] `` / ``[D] `` prefix tokens, saves it in its own format, reloads the
folder and encodes with ``encode(is_query=True / False)``; the toolkit loads the same folder.
Every query and document vector (marker after [CLS], [MASK] expansion attended or not, skiplist,
``query_length`` / ``document_length`` truncation, normalization, dims) and every
``colbert_scores`` value must agree within 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from encoders import LLM
from tests.reference.env import run_reference

TOLERANCE = 1e-5
QUERIES = [
    "what is the air pressure on a wing?",
    "Wie funktioniert ein Flügel, wenn die Luft schnell über die Oberfläche strömt und Druck "
    "erzeugt, fragt der Student; und was passiert dann mit dem Auftrieb?",
    "  cats  ",
]
DOCUMENTS = [
    "the wing lift, and air flow.",
    "hello",
    "A cat sleeps on the street at night! (again) #tags & $money; the end is near, or is it? "
    "yes... no ☃ - well: [maybe] {who} knows <the> answer to life, the universe & everything",
]
# The ModernBERT tokenizer is trained on these (plus the texts), so it has real merges.
CORPUS = [
    "the quick brown fox jumps over the lazy dog, again and again.",
    "air pressure, lift and flow over a wing; drag at speed!",
    "a cat sleeps on a warm street at night (mostly).",
]

VARIANTS: dict[str, dict[str, Any]] = {
    # PyLate's defaults: "[Q] " / "[D] " prefixes, [MASK] expansion not attended, punctuation
    # skiplist on documents.
    "bert": {"backbone": "bert", "colbert": {"embedding_size": 16, "query_length": 16,
                                            "document_length": 20}},
    # Expansion attended, Stanford-style in-vocabulary markers, two Dense layers, a word skiplist
    # ("Hello" is no vocabulary token: PyLate looks words up verbatim, so it becomes [UNK]).
    "bert_attend": {"backbone": "bert", "second_dense": 8, "colbert": {
        "embedding_size": 24, "query_length": 10, "document_length": 16,
        "attend_to_expansion_tokens": True, "query_prefix": "[unused0]",
        "document_prefix": "[unused1]",
        "skiplist_words": ["the", ",", ".", "!", "#", "Hello"]}},
    # No expansion (queries keep only their tokens), no markers, an empty skiplist.
    "bert_plain": {"backbone": "bert", "colbert": {
        "embedding_size": 16, "query_length": 12, "document_length": 24,
        "do_query_expansion": False, "query_prefix": "", "document_prefix": "",
        "skiplist_words": []}},
    # GTE-ModernColBERT's shape: ModernBERT backbone (local attention windows crossed here),
    # plus a default prompt, which PyLate prepends to queries and documents alike.
    "modernbert": {"backbone": "modernbert", "colbert": {
        "embedding_size": 16, "query_length": 14, "document_length": 40,
        "prompts": {"find": "find: "}, "default_prompt_name": "find"}},
}  # fmt: skip


@pytest.fixture(scope="module")
def pylate_outputs(tmp_path_factory: pytest.TempPathFactory, real_default_path: Path) -> Path:
    """Every variant built, saved and encoded by PyLate in one reference process."""
    root = tmp_path_factory.mktemp("pylate")
    specs = [
        {
            **variant,
            "out": str(root / name),
            "tokenizer": str(real_default_path),  # bert-base-uncased's real WordPiece vocabulary
            "corpus": CORPUS + QUERIES + DOCUMENTS,
            "queries": QUERIES,
            "documents": DOCUMENTS,
        }
        for name, variant in VARIANTS.items()
    ]
    (root / "specs.json").write_text(json.dumps(specs), encoding="utf-8")
    run_reference("pylate", "pylate_colbert.py", root / "specs.json")
    return root


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, pylate_outputs: Path) -> tuple[LLM, dict[str, Any]]:
    out = pylate_outputs / request.param
    return LLM(str(out / "model"), device="cpu"), load_file(str(out / "reference.safetensors"))


def _assert_same_vectors(
    ours: list[torch.Tensor], reference: dict[str, torch.Tensor], side: str, llm: LLM
) -> float:
    worst = 0.0
    for i, got in enumerate(ours):
        want = reference[f"{side}_{i}"]
        tokens = llm.model.tokenizer.convert_ids_to_tokens(reference[f"{side}_ids_{i}"].tolist())
        assert got.shape == want.shape, f"{side} {i}: {tuple(got.shape)}, PyLate kept {tokens}"
        worst = max(worst, float((got - want).abs().max()))
    assert worst <= TOLERANCE, f"{side}: max abs diff {worst:.3g}"
    return worst


def test_queries_match_pylate(variant: tuple[LLM, dict[str, torch.Tensor]]) -> None:
    llm, reference = variant
    assert llm.model.family == "colbert"
    _assert_same_vectors(llm.encode_queries(QUERIES, use_tqdm=False), reference, "query", llm)


def test_documents_match_pylate(variant: tuple[LLM, dict[str, torch.Tensor]]) -> None:
    llm, reference = variant
    ours = llm.encode_documents(DOCUMENTS, use_tqdm=False)
    _assert_same_vectors(ours, reference, "document", llm)


def test_scores_match_pylate_colbert_scores(variant: tuple[LLM, dict[str, torch.Tensor]]) -> None:
    llm, reference = variant
    for i, query in enumerate(QUERIES):
        ours = torch.tensor([o.outputs.score for o in llm.score(query, DOCUMENTS, use_tqdm=False)])
        diff = float((ours - reference["scores"][i]).abs().max())
        assert diff <= TOLERANCE, f"query {i}: scores differ by {diff:.3g}"
