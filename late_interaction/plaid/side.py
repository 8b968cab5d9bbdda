"""The exact side store of a ``PlaidIndex``: every token kept at (near) full precision for
re-scoring the final candidates, beside the compressed codes (``rescore=``).

- ``"fp16"``: float16 ``(tokens, dim)`` (file ``full``), ``2 * dim`` bytes per token.
- ``"int8"``: int8 ``(tokens, dim)`` (``full_int8``) and one float16 scale per token
  (``full_scale``): ``dim + 2`` bytes per token, 130 at dim 128. Each token is quantized
  symmetrically by its own absolute maximum, so no value is ever clipped, whatever new
  documents look like (no fitted range to drift away from). The per-token scale is stored
  relative to one index-wide ``unit`` (the median token scale of the first batch, kept in
  the manifest state), so float16 has its full range around 1 for any embedding magnitude.

Why per token and not per dimension: a per-dimension range fitted on the first batch can be
exceeded by later tokens (clipping), and dimensions that are constant in the fitted sample
get no range at all (MiniLM token states have such dimensions). Measured with exhaustive
MaxSim, per-token int8 keeps recall@10 vs float32 at 0.998 on synthetic tokens (dim 128) and
on Cranfield MiniLM tokens (dim 384): the error per value is at most ``absmax / 254``.

The store is independent of the codebook (codes may be re-encoded by drift growth; these
rows never are): rows follow token positions, appended with their document and dropped by
``take`` on compaction.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from late_interaction.plaid.token_array import TokenArray
from retrieval.errors import ConfigError

Rescore = Literal["none", "fp16", "int8"]
RESCORE: tuple[Rescore, ...] = ("none", "fp16", "int8")
SIDE_FILES: dict[str, tuple[str, ...]] = {
    "none": (),
    "fp16": ("full",),
    "int8": ("full_int8", "full_scale"),
}
_LEVELS = 127.0


class SideStore:
    """Per-token full-precision rows: ``fp16`` values, or ``int8`` values and scales."""

    def __init__(
        self, kind: Rescore, arrays: dict[str, np.ndarray], unit: float | None = None
    ) -> None:
        if kind not in ("fp16", "int8"):
            msg = f"A side store is 'fp16' or 'int8'; got {kind!r}."
            raise ConfigError(msg)
        self.kind = kind
        self.values = TokenArray(arrays["full" if kind == "fp16" else "full_int8"])
        self.scales = TokenArray(arrays["full_scale"]) if kind == "int8" else None
        self.unit = unit
        """``int8``: the index-wide scale unit (``None`` until the first tokens)."""

    @classmethod
    def empty(cls, kind: Rescore, dim: int) -> SideStore:
        if kind == "fp16":
            return cls(kind, {"full": np.zeros((0, dim), np.float16)})
        arrays: dict[str, np.ndarray] = {
            "full_int8": np.zeros((0, dim), np.int8),
            "full_scale": np.zeros(0, np.float16),
        }
        return cls(kind, arrays)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def bytes_per_token(self) -> int:
        """``2 * dim`` (fp16) or ``dim + 2`` (int8)."""
        dim = int(self.values.base.shape[1])
        return 2 * dim if self.kind == "fp16" else dim + 2

    @property
    def nbytes(self) -> int:
        return len(self) * self.bytes_per_token

    def append(self, vectors: np.ndarray) -> None:
        """Store ``(n, dim)`` float32 tokens (in token order)."""
        if self.kind == "fp16":
            self.values.append(vectors.astype(np.float16))
            return
        assert self.scales is not None
        absmax = np.abs(vectors).max(1) if len(vectors) else np.zeros(0, np.float32)
        if self.unit is None and absmax.any():
            self.unit = float(np.median(absmax[absmax > 0])) / _LEVELS
        unit = self.unit or 1.0
        with np.errstate(over="ignore"):  # an overflow is refused just below
            relative = (absmax / _LEVELS / unit).astype(np.float16)  # what is stored
        if not np.isfinite(relative).all():
            msg = (
                "Token values are too large for the int8 side store (over 65504x the first "
                "batch's); normalize the embeddings or create the index with rescore='fp16'."
            )
            raise ConfigError(msg)
        scale = relative.astype(np.float32) * np.float32(unit)
        safe = np.where(scale > 0, scale, 1.0)[:, None]
        quantized = np.clip(np.rint(vectors / safe), -_LEVELS, _LEVELS).astype(np.int8)
        self.values.append(quantized)
        self.scales.append(relative)

    def take(self, index: np.ndarray) -> np.ndarray:
        """``(len(index), dim)`` float32 tokens at global token ``index``."""
        values = self.values.take(index).astype(np.float32)
        if self.scales is None:
            return values
        scale = self.scales.take(index).astype(np.float32) * np.float32(self.unit or 1.0)
        values *= scale[:, None]
        return values

    def keep(self, index: np.ndarray) -> None:
        """Keep only the tokens at ``index`` (compaction), in memory."""
        self.values.replace(self.values.take(index))
        if self.scales is not None:
            self.scales.replace(self.scales.take(index))

    def arrays(self) -> dict[str, TokenArray]:
        """Files to write: name -> token array."""
        if self.scales is None:
            return {"full": self.values}
        return {"full_int8": self.values, "full_scale": self.scales}
