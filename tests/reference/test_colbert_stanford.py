"""Stanford HF_ColBERT checkpoints, checked against Stanford ColBERT itself (``colbert-ai``
0.2.22 with transformers 4.57 in its own reference environment,
scripts/reference_envs/colbert_ai.sh).

colbert-ai's ``BaseColBERT`` wraps a tiny random BertModel (real bert-base-uncased vocabulary,
so ``[unused0]`` / ``[unused1]`` are the markers) as ``HF_ColBERT`` and saves it in its own
format (``bert.*`` + ``linear.weight``, tokenizer, ``artifact.metadata``); its ``Checkpoint``
encodes with ``queryFromText`` and ``docFromText(keep_dims=False)`` and scores with
``colbert_score``. The toolkit loads the same folder; every vector and score must agree within
1e-5.
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
    "how does a wing work when the air flows fast over its surface and builds up pressure, "
    "asks the student; and what happens to the lift then?",
    "  cats  ",
]
DOCUMENTS = [
    "the wing lift, and air flow.",
    "hello",
    "A cat sleeps on the street at night! (again) #tags & $money; the end is near, or is it? "
    "yes... no ☃ - well: [maybe] {who} knows <the> answer to life, the universe & everything",
]
VARIANTS: dict[str, dict[str, Any]] = {
    # colbert-ai's defaults but for the lengths: [MASK] expansion not attended, punctuation
    # masked out of documents.
    "default": {"query_maxlen": 16, "doc_maxlen": 20, "dim": 16},
    # Expansion attended, a long document budget. (mask_punctuation=False cannot be checked:
    # colbert-ai 0.2.22's ColBERT.doc then fails on its missing `skiplist` attribute.)
    "attend": {"query_maxlen": 12, "doc_maxlen": 40, "dim": 8, "attend_to_mask_tokens": True},
}  # fmt: skip


@pytest.fixture(scope="module")
def stanford_outputs(tmp_path_factory: pytest.TempPathFactory, real_default_path: Path) -> Path:
    root = tmp_path_factory.mktemp("stanford")
    specs = [
        {
            "out": str(root / name),
            "tokenizer": str(real_default_path),  # bert-base-uncased's real WordPiece vocabulary
            "config": config,
            "queries": QUERIES,
            "documents": DOCUMENTS,
        }
        for name, config in VARIANTS.items()
    ]
    (root / "specs.json").write_text(json.dumps(specs), encoding="utf-8")
    run_reference("colbert_ai", "stanford_colbert.py", root / "specs.json")
    return root


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, stanford_outputs: Path) -> tuple[LLM, Any]:
    out = stanford_outputs / request.param
    return LLM(str(out / "model"), device="cpu"), load_file(str(out / "reference.safetensors"))


def _max_diff(ours: list[torch.Tensor], reference: dict[str, torch.Tensor], side: str) -> float:
    worst = 0.0
    for i, got in enumerate(ours):
        want = reference[f"{side}_{i}"]
        assert got.shape == want.shape, f"{side} {i}: {tuple(got.shape)} vs {tuple(want.shape)}"
        worst = max(worst, float((got - want).abs().max()))
    return worst


def test_queries_match_query_from_text(variant: tuple[LLM, Any]) -> None:
    llm, reference = variant
    assert llm.model.family == "colbert"
    ours = llm.encode_queries(QUERIES, use_tqdm=False)
    assert _max_diff(ours, reference, "query") <= TOLERANCE


def test_documents_match_doc_from_text(variant: tuple[LLM, Any]) -> None:
    llm, reference = variant
    ours = llm.encode_documents(DOCUMENTS, use_tqdm=False)
    assert _max_diff(ours, reference, "document") <= TOLERANCE


def test_scores_match_colbert_score(variant: tuple[LLM, Any]) -> None:
    llm, reference = variant
    for i, query in enumerate(QUERIES):
        ours = torch.tensor([o.outputs.score for o in llm.score(query, DOCUMENTS, use_tqdm=False)])
        assert float((ours - reference["scores"][i]).abs().max()) <= TOLERANCE
