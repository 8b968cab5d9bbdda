"""Embedding shards: the one on-disk format of an encoded corpus, local or distributed.

A shard folder holds::

    manifest.json                            the commit record (``retrieval.storage.Manifest``,
                                             kind ``embedding_shards``): representation, model,
                                             dim, count and every shard's size and SHA-256
    shard-000000000000-3f9c....safetensors   one encoded batch: tensors + ids + metadata

A shard is a safetensors file: ``embeddings (n, dim)`` float32 for dense; ``indptr (n+1,)``,
``indices (nnz,)``, ``values (nnz,)`` for sparse; ``vectors (total_tokens, dim)`` and
``offsets (n+1,)`` for multi-vector. One safetensors header key (``retrieval_toolkit``) holds
JSON with the ids, the per-item metadata, the representation and the width, so rewriting a
batch gives a byte-identical file. Nothing is pickled.

**Idempotent names.** A shard's name is derived from its content's identity (the corpus
position of its first row and a digest of its ids), so a retried task rewrites the same file
instead of adding a second copy. Files are written to a unique temp name and renamed, so a
crash never leaves a half-written shard under a real name. ``commit_manifest`` lists only the
shards the finished job reported and deletes every other shard file (leftovers of failed
attempts): the manifest is the commit point, and each id appears in exactly one listed shard.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from retrieval.errors import ConfigError, IndexCorruptError
from retrieval.multivector import MultiVectorEmbeddings
from retrieval.storage import (
    MANIFEST_NAME,
    FileEntry,
    IndexFolder,
    Manifest,
    atomic_write,
)
from retrieval.types import SparseEmbeddings

Representation = Literal["dense", "sparse", "multivector"]
REPRESENTATIONS: tuple[str, ...] = get_args(Representation)
SHARDS_KIND = "embedding_shards"
_FORMAT = "retrieval-toolkit-shard/1"
_PREFIX, _SUFFIX = "shard-", ".safetensors"
_HEADER_KEY = "retrieval_toolkit"
_METRIC = {"dense": "cosine", "sparse": "dot", "multivector": "maxsim"}

Encoded = np.ndarray | SparseEmbeddings | MultiVectorEmbeddings
"""One encoded batch: ``(n, dim)`` array, sparse CSR batch or packed multi-vector batch."""


@dataclass(frozen=True)
class ShardRecord:
    """What a worker reports for one shard it wrote (the driver commits these)."""

    name: str
    """File name inside the shard folder."""
    count: int
    """Number of items in the shard."""
    dim: int
    """Vector width (the vocabulary size for sparse shards)."""
    representation: str
    """``dense``, ``sparse`` or ``multivector``."""
    bytes: int
    """File size."""
    sha256: str
    """Hex SHA-256 of the file."""


def representation_of(batch: Encoded) -> str:
    """The representation name of an encoded batch (by its container type)."""
    if isinstance(batch, SparseEmbeddings):
        return "sparse"
    if isinstance(batch, MultiVectorEmbeddings):
        return "multivector"
    if isinstance(batch, np.ndarray) and batch.ndim == 2:
        return "dense"
    msg = (
        f"An encoder returned {type(batch).__name__}; expected a (n, dim) numpy array, a "
        "SparseEmbeddings or a MultiVectorEmbeddings."
    )
    raise ConfigError(msg)


def _tensors(batch: Encoded) -> tuple[dict[str, np.ndarray], int]:
    """The arrays a shard stores for ``batch``, and the batch's width (vocab for sparse)."""
    if isinstance(batch, SparseEmbeddings):
        arrays: dict[str, np.ndarray] = {
            "indptr": batch.indptr.astype(np.int64),
            "indices": batch.indices.astype(np.int32),
            "values": batch.values.astype(np.float32),
        }
        return arrays, batch.vocab_size
    if isinstance(batch, MultiVectorEmbeddings):
        vectors = batch.vectors.detach().to("cpu").float().numpy()
        return {"vectors": vectors, "offsets": batch.offsets.to("cpu").numpy()}, batch.dim
    return {"embeddings": np.ascontiguousarray(batch, dtype=np.float32)}, int(batch.shape[1])


def shard_name(ids: Sequence[str], first_row: int | None) -> str:
    """The deterministic file name of the shard holding ``ids`` (same batch, same name).

    ``first_row`` (the corpus position of the first item, when known) leads the name so the
    manifest's sorted listing follows corpus order.
    """
    digest = hashlib.sha256("\x1f".join(ids).encode("utf-8")).hexdigest()[:24]
    lead = "" if first_row is None else f"{first_row:012d}-"
    return f"{_PREFIX}{lead}{digest}{_SUFFIX}"


def write_shard(
    folder: str | os.PathLike[str],
    ids: Sequence[str],
    batch: Encoded,
    metadata: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    first_row: int | None = None,
) -> ShardRecord:
    """Write one shard atomically under its deterministic name and describe it.

    ``ids`` are the items' string ids (one per row of ``batch``); ``metadata`` is one JSON
    dict (or ``None``) per item. Rewriting the same batch replaces the file with identical
    content, which is what makes retried tasks harmless.
    """
    ids = [str(i) for i in ids]
    if len(ids) != len(batch) or (metadata is not None and len(metadata) != len(ids)):
        msg = f"A shard got {len(ids)} ids for {len(batch)} embeddings / metadata entries."
        raise ConfigError(msg)
    representation = representation_of(batch)
    arrays, dim = _tensors(batch)
    header = {
        "format": _FORMAT,
        "representation": representation,
        "dim": dim,
        "ids": ids,
        "metadata": [dict(m) if m else None for m in metadata or [None] * len(ids)],
    }
    try:
        # One key: safetensors writes several metadata keys in arbitrary order, and a rewrite
        # of the same batch must give a byte-identical file.
        text = json.dumps(header, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        msg = f"Metadata of the batch starting with id {ids[0]!r} is not plain JSON ({err})."
        raise ConfigError(msg) from err
    path = Path(folder) / shard_name(ids, first_row)
    # Two attempts of one task (a retry racing a presumed-dead worker) may write this shard at
    # once; unique temp names keep them apart and the contents are equal.
    entry = atomic_write(
        path,
        lambda temp: save_file(arrays, str(temp), metadata={_HEADER_KEY: text}),
        unique_temp=True,
    )
    return ShardRecord(path.name, len(ids), dim, representation, entry.bytes, entry.sha256)


def commit_manifest(
    folder: str | os.PathLike[str], records: Sequence[ShardRecord], model: str | None = None
) -> Manifest:
    """Write ``manifest.json`` listing ``records`` and delete every unlisted shard file.

    Refuses records that disagree on representation or dim, or that name one shard twice.
    """
    path = Path(folder)
    if not records:
        msg = f"No shards to commit in {path}: the corpus was empty."
        raise ConfigError(msg)
    kinds = {(r.representation, r.dim) for r in records}
    if len(kinds) != 1:
        msg = f"Shards in {path} mix representations or widths: {sorted(kinds)}."
        raise ConfigError(msg)
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        msg = f"The job reported shard {names[0]!r} twice; a batch was encoded twice."
        raise IndexCorruptError(msg)
    representation, dim = kinds.pop()
    manifest = Manifest(
        kind=SHARDS_KIND,
        dim=dim,
        metric=_METRIC[representation],
        count=sum(r.count for r in records),
        generation=1,
        config={"representation": representation, "model": model, "format": _FORMAT},
        files={r.name: FileEntry(r.name, r.bytes, r.sha256) for r in records},
    )
    text = manifest.to_json()

    def write(target: Path) -> None:
        target.write_text(text, encoding="utf-8")

    atomic_write(path / MANIFEST_NAME, write)
    keep = set(names)
    for child in path.iterdir():
        leftover = child.name.startswith((_PREFIX, ".tmp-")) and child.name not in keep
        if leftover and child.is_file():
            child.unlink(missing_ok=True)
    return manifest


@dataclass(frozen=True)
class Shard:
    """One shard read back: ids, the encoded batch and the items' metadata."""

    ids: list[str]
    embeddings: Encoded
    metadata: list[dict[str, Any] | None]


class ShardSet:
    """A committed shard folder: iterate it shard by shard (memory bounded by one shard)."""

    def __init__(self, folder: IndexFolder, manifest: Manifest) -> None:
        """Internal: use ``ShardSet.open``."""
        self.folder = folder
        self.manifest = manifest

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> ShardSet:
        """Open a shard folder; checks the manifest and (``verify``) every shard's checksum."""
        folder = IndexFolder(path)
        manifest = folder.read_manifest(SHARDS_KIND, "encode_corpus", verify=verify)
        return cls(folder, manifest)

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def representation(self) -> str:
        return str(self.manifest.config["representation"])

    @property
    def dim(self) -> int:
        """Vector width (the vocabulary size for sparse shards)."""
        return self.manifest.dim

    @property
    def model(self) -> str | None:
        model = self.manifest.config.get("model")
        return None if model is None else str(model)

    def __len__(self) -> int:
        """Number of items over all shards."""
        return self.manifest.count

    @property
    def shard_names(self) -> list[str]:
        """Shard file names in corpus order (when positions were known) or name order."""
        return sorted(self.manifest.files)

    def __iter__(self) -> Iterator[Shard]:
        return (self.read(name) for name in self.shard_names)

    def ids(self) -> list[str]:
        """Every id, shard by shard, reading only the shard headers."""
        out: list[str] = []
        for name in self.shard_names:
            out.extend(_header(self.path / name)["ids"])
        return out

    def read(self, name: str) -> Shard:
        """Load one shard by file name."""
        source = self.path / name
        header = _header(source)
        try:
            with safe_open(str(source), framework="numpy") as handle:
                arrays = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except (OSError, ValueError, RuntimeError) as err:
            msg = f"Shard {source} is unreadable ({err}); re-run the encode."
            raise IndexCorruptError(msg) from err
        return Shard(list(header["ids"]), _decode(arrays, header, source), header["metadata"])


def _header(source: Path) -> dict[str, Any]:
    """The toolkit header of a shard (ids, metadata, representation, dim)."""
    try:
        with safe_open(str(source), framework="numpy") as handle:
            header = json.loads((handle.metadata() or {})[_HEADER_KEY])
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        msg = f"Shard {source} is unreadable or not a toolkit shard ({err}); re-run the encode."
        raise IndexCorruptError(msg) from err
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        msg = f"{source} is not a {_FORMAT} shard."
        raise IndexCorruptError(msg)
    return header


def _decode(arrays: dict[str, np.ndarray], header: dict[str, Any], source: Path) -> Encoded:
    representation = header.get("representation")
    if representation not in REPRESENTATIONS:
        msg = f"{source} has an unknown representation {representation!r}."
        raise IndexCorruptError(msg)
    if representation == "dense":
        return arrays["embeddings"]
    if representation == "sparse":
        vocab = int(header["dim"])
        return SparseEmbeddings(arrays["indptr"], arrays["indices"], arrays["values"], vocab)
    import torch

    return MultiVectorEmbeddings(
        torch.from_numpy(arrays["vectors"]), torch.from_numpy(arrays["offsets"])
    )
