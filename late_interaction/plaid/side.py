"""The exact side store of a ``PlaidIndex``: every token kept at (near) full precision for
re-scoring the final candidates, beside the compressed codes (``rescore=``).

- ``"fp16"``: float16 ``(tokens, dim)`` (file ``full``), ``2 * dim`` bytes per token.
- ``"int8"``: residual refinement in int8 (``full_int8``) with one float16 scale per token
  (``full_scale``): ``dim + 2`` bytes per token, 130 at dim 128. A token is stored as what
  its compressed code misses, ``x - decode(code, residual)``, quantized symmetrically by its
  own absolute maximum; re-scoring adds it back to the decoded token. That remainder is ~3x
  smaller than the token (mean absolute maximum 0.088 vs 0.250 on synthetic unit tokens, dim
  128; 0.057 vs 0.177 on Cranfield MiniLM tokens), and so is the int8 error: 2.3e-4 vs
  5.7e-4 rms per value quantizing the token itself. At 10M synthetic tokens, where ~200
  documents per topic are near-tied, int8 of the tokens themselves gave recall@10 0.977 and
  fp16 0.997 (BENCHMARKS.md). Per token, not per dimension: nothing is ever clipped, whatever
  later documents look like. Scales are stored relative to one index-wide ``unit`` (the
  median token absolute maximum of the first batch / 127, in the manifest state), so float16
  keeps its full range around 1 for any embedding magnitude.

Rows follow token positions: appended with their document, dropped by ``keep`` on
compaction and, for ``int8``, rewritten with ``put`` whenever drift growth re-encodes tokens
(their decoded form changes, so must the remainder).
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
    def refines(self) -> bool:
        """Rows store what the decoded token misses (``int8``): reading and writing them
        needs the decoded tokens."""
        return self.kind == "int8"

    @property
    def bytes_per_token(self) -> int:
        """``2 * dim`` (fp16) or ``dim + 2`` (int8)."""
        dim = int(self.values.base.shape[1])
        return 2 * dim if self.kind == "fp16" else dim + 2

    @property
    def nbytes(self) -> int:
        return len(self) * self.bytes_per_token

    def append(self, vectors: np.ndarray, decoded: np.ndarray | None = None) -> None:
        """Store ``(n, dim)`` float32 tokens (in token order) given their ``decoded`` form
        (needed when ``refines``)."""
        values, scales = self._encode(vectors, decoded)
        self.values.append(values)
        if self.scales is not None:
            self.scales.append(scales)

    def put(self, index: np.ndarray, vectors: np.ndarray, decoded: np.ndarray | None) -> None:
        """Rewrite the rows at global token ``index`` (their codes were re-encoded)."""
        values, scales = self._encode(vectors, decoded)
        self.values.put(index, values)
        if self.scales is not None:
            self.scales.put(index, scales)

    def take(self, index: np.ndarray, decoded: np.ndarray | None = None) -> np.ndarray:
        """``(len(index), dim)`` float32 tokens at global token ``index`` (``decoded``: the
        decoded tokens there, needed when ``refines``)."""
        values = self.values.take(index).astype(np.float32)
        if self.scales is None:
            return values
        scale = self.scales.take(index).astype(np.float32) * np.float32(self.unit or 1.0)
        values *= scale[:, None]
        values += _required(decoded)
        return values

    def _encode(
        self, vectors: np.ndarray, decoded: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows to store for ``vectors``: fp16 values, or int8 values and float16 scales."""
        if self.kind == "fp16":
            return vectors.astype(np.float16), np.zeros(0, np.float16)
        remainder = vectors - _required(decoded)
        absmax = np.abs(remainder).max(1) if len(remainder) else np.zeros(0, np.float32)
        if self.unit is None and len(vectors) and np.abs(vectors).any():
            # From the tokens, not their remainders: a first batch the codebook fits almost
            # exactly (a few documents, one centroid per token) has near-zero remainders,
            # and a unit set from them would leave later ordinary tokens out of range.
            magnitude = np.abs(vectors).max(1)
            self.unit = float(np.median(magnitude[magnitude > 0])) / _LEVELS
        unit = self.unit or 1.0
        with np.errstate(over="ignore"):  # an overflow is refused just below
            relative = (absmax / _LEVELS / unit).astype(np.float16)  # what is stored
        if not np.isfinite(relative).all():
            msg = (
                "Token values are too large for the int8 side store (over 65504x the first "
                "batch's tokens); normalize the embeddings or create the index with rescore='fp16'."
            )
            raise ConfigError(msg)
        scale = relative.astype(np.float32) * np.float32(unit)
        safe = np.where(scale > 0, scale, 1.0)[:, None]
        values = np.clip(np.rint(remainder / safe), -_LEVELS, _LEVELS).astype(np.int8)
        return values, relative

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


def _required(decoded: np.ndarray | None) -> np.ndarray:
    if decoded is None:
        msg = "The int8 side store refines decoded tokens; pass them."
        raise ValueError(msg)
    return decoded
