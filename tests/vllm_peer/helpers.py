"""Helpers the ported tests share: vLLM's comparison criteria and a wire decoder written
from vLLM's documented format (not imported from the toolkit, so it checks the toolkit)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

EMBED_DTYPES = ("float32", "float16", "bfloat16", "fp8_e4m3", "fp8_e5m2")
ENDIANNESS = ("native", "big", "little")

_TORCH = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "fp8_e4m3": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
}
_WIDTH = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1}


def check_embeddings_close(
    first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], tol: float = 1e-3
) -> None:
    """vLLM's ``check_embeddings_close``: same count, same length, cosine >= 1 - tol."""
    assert len(first) == len(second)
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        assert len(a) == len(b), f"item {index}: length {len(a)} vs {len(b)}"
        sim = F.cosine_similarity(
            torch.tensor(np.asarray(a), dtype=torch.float64),
            torch.tensor(np.asarray(b), dtype=torch.float64),
            dim=0,
        )
        assert sim >= 1 - tol, f"item {index}: cosine {float(sim):.5f} < {1 - tol}"


def softmax(data: torch.Tensor) -> torch.Tensor:
    """vLLM's test ``softmax``: sigmoid for one logit, softmax otherwise."""
    if data.shape[-1] == 1:
        return torch.sigmoid(data)
    return torch.softmax(data, dim=-1)


def binary_to_tensor(
    raw: bytes, shape: Sequence[int], embed_dtype: str, endianness: str
) -> torch.Tensor:
    """Decode one item's bytes: element width from ``embed_dtype``, byte order from
    ``endianness`` (``native`` = this machine's), then reinterpret as that dtype."""
    width = _WIDTH[embed_dtype]
    array = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)
    big = endianness == "big" or (endianness == "native" and sys.byteorder == "big")
    if big != (sys.byteorder == "big"):
        array = array[:, ::-1]
    flat = torch.from_numpy(np.ascontiguousarray(array).reshape(-1).copy())
    return flat.view(_TORCH[embed_dtype]).reshape(tuple(shape))


def decode_items(items: list[dict[str, Any]], body: bytes) -> list[torch.Tensor]:
    """vLLM's ``decode_pooling_output``: one tensor per metadata item, in ``index`` order."""
    ordered = sorted(items, key=lambda item: item["index"])
    return [
        binary_to_tensor(
            body[item["start"] : item["end"]], item["shape"], item["embed_dtype"],
            item["endianness"],
        )
        for item in ordered
    ]  # fmt: skip


def fixed_items(
    embed_dtype: str, endianness: str, shape: Sequence[int], count: int
) -> list[dict[str, Any]]:
    """vLLM's ``build_metadata_items``: the layout a ``bytes_only`` client must assume."""
    size = int(np.prod(shape)) * _WIDTH[embed_dtype]
    return [
        {
            "index": i,
            "embed_dtype": embed_dtype,
            "endianness": endianness,
            "shape": list(shape),
            "start": i * size,
            "end": (i + 1) * size,
        }
        for i in range(count)
    ]
