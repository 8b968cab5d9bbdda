"""Wire encodings of output tensors: JSON floats, base64 and raw bytes (vLLM's formats).

``base64`` is the tensor's bytes in ``embed_dtype`` and ``endianness`` (native = little on
every platform this runs on), base64-encoded; the openai SDK decodes it as little-endian
float32, its default. ``bytes`` concatenates every item's raw bytes into one
``application/octet-stream`` body; with ``bytes`` (not ``bytes_only``) a ``metadata`` header holds
the JSON envelope ``{"id", "object", "created", "model", "data", "usage"}`` whose ``data`` lists
``{"index", "embed_dtype", "endianness", "shape", "start", "end"}`` (byte offsets into the body),
as vLLM sends it.
"""

from __future__ import annotations

import base64
import sys
from typing import Any, Literal

import torch

EncodingFormat = Literal["float", "base64", "bytes", "bytes_only"]
ENCODING_FORMATS: tuple[str, ...] = ("float", "base64", "bytes", "bytes_only")
EmbedDtype = Literal["float32", "float16", "bfloat16", "fp8_e4m3", "fp8_e5m2"]
EMBED_DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16", "fp8_e4m3", "fp8_e5m2")
Endianness = Literal["native", "big", "little"]
ENDIANNESS: tuple[str, ...] = ("native", "big", "little")

_TORCH_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "fp8_e4m3": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
}


def to_bytes(tensor: torch.Tensor, embed_dtype: str, endianness: str) -> bytes:
    """Raw bytes of ``tensor`` (any shape, row-major) in ``embed_dtype`` / ``endianness``."""
    data = tensor.detach().to("cpu", _TORCH_DTYPES[embed_dtype]).contiguous()
    width = data.element_size()
    raw = data.reshape(-1).view(torch.uint8)
    big = endianness == "big" or (endianness == "native" and sys.byteorder == "big")
    if big != (sys.byteorder == "big") and width > 1:
        raw = raw.reshape(-1, width).flip(-1).reshape(-1)
    return bytes(raw.numpy().tobytes())


def encode_item(tensor: torch.Tensor, fmt: str, embed_dtype: str, endianness: str) -> Any:
    """One item for a JSON body: nested float lists, or a base64 string."""
    if fmt == "base64":
        return base64.b64encode(to_bytes(tensor, embed_dtype, endianness)).decode("ascii")
    return tensor.detach().float().tolist()


def bytes_body(
    tensors: list[torch.Tensor], embed_dtype: str, endianness: str
) -> tuple[bytes, list[dict[str, Any]]]:
    """The ``bytes`` format: concatenated item bytes and each item's layout."""
    chunks: list[bytes] = []
    items = []
    offset = 0
    for index, tensor in enumerate(tensors):
        raw = to_bytes(tensor, embed_dtype, endianness)
        items.append(
            {
                "index": index,
                "embed_dtype": embed_dtype,
                "endianness": endianness,
                "shape": list(tensor.shape),
                "start": offset,
                "end": offset + len(raw),
            }
        )
        chunks.append(raw)
        offset += len(raw)
    return b"".join(chunks), items
