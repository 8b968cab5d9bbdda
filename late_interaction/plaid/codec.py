"""PLAID's residual codec: a k-means codebook plus a few bits per dimension of residual.

A token ``x`` (``(dim,)`` float32) is stored as the id of its nearest centroid ``c`` (int32)
and its residual ``x - c`` quantized to ``nbits`` (1, 2 or 4) bits per dimension: each
dimension ``d`` has its own ``2**nbits - 1`` bucket cutoffs (quantiles of the training
residuals of that dimension) and ``2**nbits`` bucket weights (the mean training residual
inside each bucket), so decompression is ``c + weights[d, bucket_d]`` for every ``d``.
Buckets are packed ``8 // nbits`` to a byte: ``dim * nbits / 8`` bytes per token (32 bytes at
dim 128 and 2 bits), plus 4 bytes for the centroid id.

Decompression is one gather per byte from a ``(bytes_per_token, 256, 8 // nbits)`` table
that maps each possible byte at each position to its decoded residual values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.errors import ConfigError, MissingDependencyError

NBITS = (1, 2, 4)
_ASSIGN_ROWS = 65_536  # tokens per assignment / quantization pass: bounds scratch memory


def load_faiss() -> Any:
    """The ``faiss`` module, or a ``MissingDependencyError`` naming the package to install."""
    try:
        import faiss
    except ImportError as err:
        package = "faiss-cpu"
        raise MissingDependencyError(package, extra="faiss") from err
    return faiss


def check_layout(dim: int, nbits: int) -> None:
    """``nbits`` must be 1, 2 or 4 and ``dim * nbits`` a whole number of bytes."""
    if nbits not in NBITS:
        msg = f"nbits must be one of {NBITS} (bits per residual dimension); got {nbits!r}."
        raise ConfigError(msg)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1 or (dim * nbits) % 8:
        msg = (
            f"dim must be a positive integer with dim * nbits a multiple of 8; got dim={dim!r}, "
            f"nbits={nbits}. Use the encoder's output width (e.g. 128)."
        )
        raise ConfigError(msg)


@dataclass
class ResidualCodec:
    """Centroids and per-dimension residual buckets; encodes and decodes tokens."""

    centroids: np.ndarray
    """``(n_centroids, dim)`` float32."""
    cutoffs: np.ndarray
    """``(dim, 2**nbits - 1)`` float32 increasing bucket boundaries per dimension."""
    weights: np.ndarray
    """``(dim, 2**nbits)`` float32 decoded value of each bucket per dimension."""
    far_cutoff: float
    """Squared residual norm above which a new token counts as far from the codebook (the
    99th percentile of the training residuals): far tokens are buffered to grow the codebook."""
    normalized: bool = False
    """The training tokens were unit vectors: decoded tokens are renormalized to unit length
    (as ColBERTv2 does), which removes the norm error of the quantized residual (Cranfield
    MiniLM, 2 bits: nDCG@10 0.535 -> 0.541 of exact 0.542)."""
    _table: np.ndarray | None = field(default=None, repr=False)
    _assigner: Any = field(default=None, repr=False)

    @property
    def nbits(self) -> int:
        return int(np.log2(self.weights.shape[1]))

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def bytes_per_token(self) -> int:
        """Packed residual bytes per token (the centroid id adds 4)."""
        return self.dim * self.nbits // 8

    @classmethod
    def train(
        cls, sample: np.ndarray, n_centroids: int, nbits: int, *, niter: int = 10, seed: int = 0
    ) -> ResidualCodec:
        """k-means (faiss) on ``sample`` ``(n, dim)``, then per-dimension residual buckets.

        The sample is split: k-means sees it all, the buckets are fitted on the residuals of
        every sample token (quantiles need no held-out set at these sizes)."""
        faiss = load_faiss()
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        k = max(1, min(n_centroids, len(sample)))
        kmeans = faiss.Kmeans(sample.shape[1], k, niter=niter, seed=seed, verbose=False)
        kmeans.cp.min_points_per_centroid = 1  # small corpora: no warning spam, same result
        kmeans.train(sample)
        centroids = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
        codec = cls(centroids, np.zeros((sample.shape[1], 0), np.float32), np.zeros((1, 1)), 0.0)
        residuals = sample - centroids[codec.assign(sample)]
        levels = 1 << nbits
        cutoffs = np.quantile(residuals, np.arange(1, levels) / levels, axis=0).T
        buckets = _bucketize(residuals, cutoffs.astype(np.float32))
        weights = np.quantile(residuals, (np.arange(levels) + 0.5) / levels, axis=0).T
        for d in range(residuals.shape[1]):  # bucket means where a bucket has members
            sums = np.bincount(buckets[:, d], residuals[:, d], minlength=levels)
            counts = np.bincount(buckets[:, d], minlength=levels)
            weights[d] = np.where(counts > 0, sums / np.maximum(counts, 1), weights[d])
        far = float(np.quantile((residuals**2).sum(1), 0.99)) if len(residuals) else 0.0
        unit = bool(np.allclose(np.linalg.norm(sample, axis=1), 1.0, atol=1e-3))
        return cls(centroids, cutoffs.astype(np.float32), weights.astype(np.float32), far, unit)

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """``(n,)`` int32 nearest centroid (L2) of each ``(n, dim)`` vector."""
        if self._assigner is None:
            faiss = load_faiss()
            self._assigner = faiss.IndexFlatL2(self.dim)
            self._assigner.add(self.centroids)
        out = np.empty(len(vectors), np.int32)
        for start in range(0, len(vectors), _ASSIGN_ROWS):
            part = np.ascontiguousarray(vectors[start : start + _ASSIGN_ROWS], dtype=np.float32)
            out[start : start + len(part)] = self._assigner.search(part, 1)[1][:, 0]
        return out

    def encode(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(n, dim)`` -> codes ``(n,)`` int32, packed residuals ``(n, bytes_per_token)``
        uint8 and squared residual norms ``(n,)`` float32 (for drift detection)."""
        codes = self.assign(vectors)
        packed = np.empty((len(vectors), self.bytes_per_token), np.uint8)
        norms = np.empty(len(vectors), np.float32)
        for start in range(0, len(vectors), _ASSIGN_ROWS):
            stop = min(start + _ASSIGN_ROWS, len(vectors))
            residual = vectors[start:stop] - self.centroids[codes[start:stop]]
            norms[start:stop] = (residual**2).sum(1)
            packed[start:stop] = _pack(_bucketize(residual, self.cutoffs), self.nbits)
        return codes, packed, norms

    def decode(self, codes: np.ndarray, packed: np.ndarray) -> np.ndarray:
        """``(n,)`` codes and ``(n, bytes_per_token)`` residuals -> ``(n, dim)`` float32."""
        if self._table is None:
            self._table = _decode_table(self.weights, self.nbits)
        n_bytes = packed.shape[1]
        residual = self._table[np.arange(n_bytes), packed]  # (n, n_bytes, 8 // nbits)
        decoded = self.centroids[codes] + residual.reshape(len(codes), self.dim)
        if self.normalized:
            decoded /= np.maximum(np.linalg.norm(decoded, axis=1, keepdims=True), 1e-12)
        return decoded

    def grow(self, far_tokens: np.ndarray, n_new: int, seed: int = 0) -> int:
        """Add ``n_new`` centroids fitted to ``far_tokens`` ``(m, dim)`` by k-means; the
        buckets are kept. Returns the number of centroids added."""
        k = max(1, min(n_new, len(far_tokens)))
        faiss = load_faiss()
        kmeans = faiss.Kmeans(self.dim, k, niter=10, seed=seed, verbose=False)
        kmeans.cp.min_points_per_centroid = 1
        kmeans.train(np.ascontiguousarray(far_tokens, dtype=np.float32))
        self.centroids = np.concatenate([self.centroids, kmeans.centroids.astype(np.float32)])
        self._assigner = None
        return k


def _bucketize(residuals: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """``(n, dim)`` residuals -> ``(n, dim)`` uint8 bucket per value (count of cutoffs below)."""
    buckets = np.zeros(residuals.shape, np.uint8)
    for j in range(cutoffs.shape[1]):
        buckets += residuals > cutoffs[:, j]
    return buckets


def _pack(buckets: np.ndarray, nbits: int) -> np.ndarray:
    """``(n, dim)`` buckets -> ``(n, dim * nbits / 8)`` bytes, first value in the high bits."""
    per = 8 // nbits
    grouped = buckets.reshape(len(buckets), -1, per)
    packed = np.zeros(grouped.shape[:2], np.uint8)
    for i in range(per):
        packed |= grouped[:, :, i] << np.uint8(8 - nbits * (i + 1))
    return packed


def _decode_table(weights: np.ndarray, nbits: int) -> np.ndarray:
    """``(dim * nbits / 8, 256, 8 // nbits)`` float32: decoded values of each byte value at
    each byte position."""
    per = 8 // nbits
    dim = weights.shape[0]
    values = np.arange(256)
    shifts = 8 - nbits * (np.arange(per) + 1)
    buckets = (values[:, None] >> shifts[None, :]) & ((1 << nbits) - 1)  # (256, per)
    dims = np.arange(dim).reshape(-1, per)  # (n_bytes, per)
    return weights[dims[:, None, :], buckets[None, :, :]].astype(np.float32)
