"""The folder layout of a ``PlaidIndex``: which ``.npy`` files it writes and how they are
read back (``open``).

Files: ``centroids``, ``cutoffs``, ``weights`` (the codec; generation starts and far cutoffs
are in the manifest state), ``codes`` (int32 per token), ``residuals`` (uint8 ``(tokens,
dim * nbits / 8)``), ``doc_ptr``, ``labels``, ``live`` (per document), ``ivf_ptr`` /
``ivf_docs`` (inverted lists), ``far_positions`` / ``far_vectors`` (far tokens buffered for
the next codebook growth), the side store of ``rescore`` (``full``: float16; or
``full_int8`` / ``full_scale``: int8 and a float16 scale per token, the scale unit in the
manifest state; see ``side.py``) and ``metadata.sqlite``. Per-token files are memory-mapped
copy-on-write: nothing is read until searched, the files never change. No pickle anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from late_interaction.plaid.codec import ResidualCodec
from late_interaction.plaid.side import SIDE_FILES, SideStore
from late_interaction.plaid.store import TokenStore
from late_interaction.plaid.token_array import TokenArray
from retrieval.errors import IndexCorruptError
from retrieval.storage import IndexFolder, Manifest, Writer, npy_writer, read_npy
from retrieval.stored_index import Components

CODEC_FILES = ("centroids", "cutoffs", "weights")
STORE_FILES = ("codes", "residuals", "doc_ptr", "labels", "live", "ivf_ptr", "ivf_docs")
FAR_FILES = ("far_positions", "far_vectors")
_MMAP_FILES = ("codes", "residuals", *(name for names in SIDE_FILES.values() for name in names))


def read_index(
    folder: IndexFolder, manifest: Manifest
) -> tuple[ResidualCodec | None, TokenStore, tuple[np.ndarray, np.ndarray]]:
    """The codec (``None`` before training), tokens and buffered far tokens of a folder."""
    state = manifest.state
    kind = manifest.config.get("rescore", "none")
    side_files = SIDE_FILES.get(kind, ())
    arrays = {
        name: _load(folder.file(manifest, name), name in _MMAP_FILES)
        for name in STORE_FILES + side_files
    }
    codec = None
    if state.get("trained"):
        codec = codec_from(
            {name: read_npy(folder.file(manifest, name)) for name in CODEC_FILES}, state
        )
    n_tokens = int(arrays["doc_ptr"][-1])
    for name in ("codes", "residuals", *side_files):
        if len(arrays[name]) != n_tokens:
            msg = (
                f"Index file {folder.file(manifest, name)} holds {len(arrays[name])} tokens, "
                f"the index {n_tokens}; restore the folder or rebuild the index."
            )
            raise IndexCorruptError(msg)
    side = SideStore(kind, arrays, state.get("side_unit")) if side_files else None
    n_centroids = 0 if codec is None else len(codec.centroids)
    tokens = TokenStore(arrays, n_centroids, int(state.get("n_indexed", 0)), side)
    far = tuple(read_npy(folder.file(manifest, name)) for name in FAR_FILES)
    return codec, tokens, (far[0], far[1])


def components(
    codec: ResidualCodec | None, tokens: TokenStore, far: tuple[np.ndarray, np.ndarray]
) -> Components:
    """Every file of the index, each written by streaming its arrays."""
    out: Components = {}
    if codec is not None:
        for name, array in zip(
            CODEC_FILES, (codec.centroids, codec.cutoffs, codec.weights), strict=True
        ):
            out[name] = ("npy", npy_writer(array))
    for name, value in tokens.arrays().items():
        writer: Writer = value.writer() if isinstance(value, TokenArray) else npy_writer(value)
        out[name] = ("npy", writer)
    for name, array in zip(FAR_FILES, far, strict=True):
        out[name] = ("npy", npy_writer(array))
    return out


def codec_from(parts: dict[str, np.ndarray], state: Mapping[str, Any]) -> ResidualCodec:
    """The codec of a saved index (folders from before codebook generations hold 2-d
    ``cutoffs`` / ``weights`` and one ``far_cutoff``: one generation)."""
    cutoffs, weights = parts["cutoffs"], parts["weights"]
    if cutoffs.ndim == 2:
        cutoffs, weights = cutoffs[None], weights[None]
    starts = state.get("generations") or [0]
    old = state.get("far_cutoff", 0.0)
    far = state.get("far_cutoffs") or [[old, old]]
    if len(starts) != len(cutoffs) or len(far) != len(cutoffs):
        msg = "The index's codebook generations do not match its buckets; rebuild the index."
        raise IndexCorruptError(msg)
    return ResidualCodec(
        parts["centroids"],
        cutoffs,
        weights,
        np.asarray(starts, np.int64),
        np.asarray(far, np.float64).reshape(-1, 2),
        bool(state.get("normalized", False)),
    )


def _load(path: os.PathLike[str], mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="c" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        msg = f"Index file {path} is unreadable ({err}). Restore the folder or rebuild the index."
        raise IndexCorruptError(msg) from err
