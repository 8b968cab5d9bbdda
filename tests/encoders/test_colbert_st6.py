"""sentence-transformers 6 ``MultiVectorEncoder`` folders, written by sentence-transformers
itself and compared with its own ``encode_query`` / ``encode_document``."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import torch

from encoders import LLM
from tests.tiny_models import make_bert, make_family

st = pytest.importorskip("sentence_transformers")

QUERIES = ["what is a cat", "the man is eating food and the girl is riding a horse again"]
DOCS = ["the cat, sat. on it!", "a man is eating a piece of bread (again)", "hello"]

VARIANTS: dict[str, dict[str, Any]] = {
    # Classic ColBERT: fixed 12-token queries, [MASK] expansion not attended, punctuation
    # dropped from documents, "[Q] " / "[D] " prompts.
    "fixed": {
        "transformer": {
            "query_length": 12,
            "document_length": 16,
            "query_expansion": {"strategy": "fixed", "attend": False, "length": 12},
        },
        "mask": {"skiplist_words": list(string.punctuation)},
        "prompts": {"query": "[Q] ", "document": "[D] "},
    },
    # "min": 8 tokens is only the floor; expansion attended; skiplist on both sides.
    "min": {
        "transformer": {
            "query_length": 20,
            "document_length": 24,
            "query_expansion": {"strategy": "min", "attend": True, "length": 8},
        },
        "mask": {"skiplist_words": [",", ".", "!"], "skiplist_tasks": ["query", "document"]},
        "prompts": {"query": "query: ", "passage": "passage: "},
    },
    # No Normalize module (raw projections, Tanh), a saved truncate_dim (first 4 dims, then
    # L2-normalized), MeanMaxSim scores, a ModernBERT backbone.
    "raw": {
        "backbone": "modernbert",
        "transformer": {
            "query_length": 10,
            "document_length": 14,
            "query_expansion": {"strategy": "fixed", "attend": False, "length": 10},
        },
        "mask": {"skiplist_words": list(string.punctuation)},
        "prompts": {"query": "[Q] ", "document": "[D] "},
        "normalize": False,
        "activation": torch.nn.Tanh(),
        "encoder": {"truncate_dim": 4, "similarity_fn_name": "meanmaxsim"},
    },
    "unnormalized": {
        "transformer": {
            "query_length": 12,
            "document_length": 16,
            "query_expansion": {"strategy": "fixed", "attend": True, "length": 12},
        },
        "mask": {"skiplist_words": list(string.punctuation)},
        "prompts": {"query": "[Q] ", "document": "[D] "},
        "normalize": False,
    },
}


def _build(tmp: Path, variant: dict[str, Any]) -> tuple[Path, Any]:
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    if variant.get("backbone") == "modernbert":
        base = make_family(tmp / "base", "modernbert", "model", seed=3)
    else:
        base = make_bert(tmp / "base", seed=3)
    torch.manual_seed(7)
    tokens = "token_embeddings"
    activation = variant.get("activation", torch.nn.Identity())
    modules = [
        Transformer(str(base), **variant["transformer"]),
        Dense(32, 8, bias=False, activation_function=activation,
              module_input_name=tokens, module_output_name=tokens),
        *([Normalize(module_input_name=tokens)] if variant.get("normalize", True) else []),
        MultiVectorMask(**variant["mask"]),
    ]  # fmt: skip
    model = MultiVectorEncoder(
        modules=modules, prompts=variant["prompts"], device="cpu", **variant.get("encoder", {})
    )
    folder = tmp / "mve"
    model.save(str(folder))
    return folder, MultiVectorEncoder(str(folder), device="cpu")


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def st6(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder, reference = _build(tmp_path_factory.mktemp(request.param), VARIANTS[request.param])
    return folder, reference, LLM(str(folder), device="cpu")


@pytest.mark.parametrize("side", ["query", "document"])
def test_each_side_matches_sentence_transformers(st6: Any, side: str) -> None:
    _, reference, llm = st6
    assert llm.model.family == "colbert"
    if side == "query":
        expected, ours = reference.encode_query(QUERIES), llm.encode_queries(QUERIES)
    else:
        expected, ours = reference.encode_document(DOCS), llm.encode_documents(DOCS)
    for got, want in zip(ours, expected, strict=True):
        assert got.shape == tuple(want.shape)
        torch.testing.assert_close(got, torch.as_tensor(want).float(), atol=1e-5, rtol=0)


def test_score_is_maxsim_of_query_and_document_sides(st6: Any) -> None:
    _, reference, llm = st6
    q = reference.encode_query(QUERIES[:1])
    d = reference.encode_document(DOCS)
    expected = reference.similarity(q, d)[0]
    scores = [o.outputs.score for o in llm.score(QUERIES[0], DOCS, use_tqdm=False)]
    torch.testing.assert_close(torch.tensor(scores), expected.float(), atol=1e-5, rtol=0)
