"""Encode a corpus into embedding shards: in this process, or over a Ray cluster.

Both paths write the same folder (``adapters.ray.shards``), so indexes are built from shards
the same way whichever encoded them::

    from adapters.ray import encode_corpus_with_ray, build_index
    from indexes import FaissIndex

    docs = [{"id": "d1", "text": "...", "metadata": {"year": 2001}}, ...]
    shards = encode_corpus_with_ray(docs, "corpus.shards", address="auto")   # or None: local
    index = build_index(shards, FaissIndex.create("corpus.faiss", dim=shards.dim))

On Ray, the corpus becomes a Ray Data dataset; ``map_batches`` runs an actor pool in which
each actor loads ``encoders.LLM`` once (one GPU per actor when the cluster has GPUs) and
writes each batch as one shard. Ray restarts dead actors and retries their tasks; shard names
are deterministic per batch and the driver commits only the shards of finished tasks, so a
retry never duplicates an item. The output folder must be visible to every worker (a local
path on one machine, a shared file system on a cluster).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from adapters.ray.encoder import EncoderSpec, LLMEncoder
from adapters.ray.session import import_ray, ray_session
from adapters.ray.shards import ShardRecord, ShardSet, commit_manifest, write_shard
from encoders.resolve import DEFAULT_MODEL
from retrieval.errors import ConfigError, IndexCorruptError
from retrieval.storage import MANIFEST_NAME

Document = Mapping[str, Any]
"""``{"id": str, "text": str, "metadata": dict | None}`` (``metadata`` optional)."""


def encode_corpus(
    documents: Sequence[Document],
    output_dir: str | os.PathLike[str],
    *,
    model: str = DEFAULT_MODEL,
    representation: str = "dense",
    llm_kwargs: Mapping[str, Any] | None = None,
    encoder: EncoderSpec | None = None,
    batch_size: int = 256,
    overwrite: bool = False,
) -> ShardSet:
    """Encode ``documents`` in this process into a shard folder (the single-node path).

    ``encoder`` replaces the default ``LLMEncoder(model, representation, llm_kwargs)``.
    """
    spec = encoder or LLMEncoder(model, representation, dict(llm_kwargs or {}))
    folder = _output_folder(output_dir, overwrite)
    ids, texts, metadata = _columns(documents)
    _check_batch_size(batch_size)
    encode = spec.load()
    records = []
    for start in range(0, len(ids), batch_size):
        stop = start + batch_size
        batch = encode(texts[start:stop])
        records.append(
            write_shard(folder, ids[start:stop], batch, metadata[start:stop], first_row=start)
        )
    commit_manifest(folder, records, _model_name(spec))
    return ShardSet.open(folder)


def encode_corpus_with_ray(
    documents: Sequence[Document] | Any,
    output_dir: str | os.PathLike[str],
    *,
    model: str = DEFAULT_MODEL,
    representation: str = "dense",
    llm_kwargs: Mapping[str, Any] | None = None,
    encoder: EncoderSpec | None = None,
    address: str | None = None,
    batch_size: int = 256,
    num_actors: int | None = None,
    num_gpus_per_actor: float | None = None,
    num_cpus_per_actor: float = 1,
    num_blocks: int | None = None,
    overwrite: bool = False,
    ray_init_kwargs: Mapping[str, Any] | None = None,
) -> ShardSet:
    """Encode ``documents`` over Ray Data into a shard folder; returns the committed set.

    ``documents`` is a sequence of ``{"id", "text", "metadata"}`` dicts or a
    ``ray.data.Dataset`` with ``id`` and ``text`` columns (``metadata``: JSON strings or
    dicts). ``address``: ``None`` uses the running Ray session or starts a local one;
    ``"auto"`` or ``"ray://host:10001"`` joins a cluster (a session this call starts is shut
    down when it returns). ``num_gpus_per_actor`` defaults to 1 when the cluster has GPUs,
    else 0; ``num_actors`` to the number of GPUs, else CPUs / ``num_cpus_per_actor``.
    ``num_blocks`` splits an in-memory corpus (default: one block per batch).
    """
    ray = import_ray()
    spec = encoder or LLMEncoder(model, representation, dict(llm_kwargs or {}))
    folder = _output_folder(output_dir, overwrite)
    _check_batch_size(batch_size)
    with ray_session(ray, address, ray_init_kwargs):
        dataset = _dataset(ray, documents, batch_size, num_blocks)
        pool = ActorPool.size(ray, num_actors, num_gpus_per_actor, num_cpus_per_actor)
        rows = pool.run(dataset, ShardWriter, spec, folder, batch_size)
    names = {f.name for f in fields(ShardRecord)}
    records = [ShardRecord(**{k: v for k, v in row.items() if k in names}) for row in rows]
    commit_manifest(folder, records, _model_name(spec))
    shards = ShardSet.open(folder)
    _check_unique(shards)
    return shards


@dataclass(frozen=True)
class ActorPool:
    """How many encoder actors to run and what each one holds."""

    actors: int
    """Number of actors (model replicas)."""
    gpus: float
    """GPUs per actor (0: CPU encoding)."""
    cpus: float
    """CPUs per actor."""

    @classmethod
    def size(
        cls, ray: Any, num_actors: int | None, gpus_per_actor: float | None, cpus_per_actor: float
    ) -> ActorPool:
        """Defaults from the cluster: one GPU per actor when it has GPUs, one actor per GPU
        (else per ``cpus_per_actor`` CPUs)."""
        gpus, actors = _resources(ray, num_actors, gpus_per_actor, cpus_per_actor)
        return cls(actors, gpus, cpus_per_actor)

    def run(
        self, dataset: Any, writer: type, spec: EncoderSpec, folder: Path, batch_size: int
    ) -> list[dict[str, Any]]:
        """``map_batches`` the ``writer`` actor over ``dataset``; the rows it returned."""
        from ray.data import ActorPoolStrategy

        encoded = dataset.map_batches(
            writer,
            fn_constructor_kwargs={"encoder": spec, "output_dir": str(folder)},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=self.actors),
            num_gpus=self.gpus or None,
            num_cpus=self.cpus,
        )
        return list(encoded.take_all())


class EncodingActor:
    """Base of the Ray Data actors: the encoder is loaded once per actor, and every batch
    is read the same way."""

    def __init__(self, encoder: EncoderSpec, output_dir: str) -> None:
        self._encode = encoder.load()
        self._folder = Path(output_dir)

    @staticmethod
    def read(batch: Mapping[str, Any]) -> tuple[list[str], list[str], int | None]:
        """The batch's ids, texts and first input row (``None`` without a ``row`` column)."""
        ids = [str(value) for value in batch["id"]]
        texts = [str(value) for value in batch["text"]]
        first_row = int(batch["row"][0]) if "row" in batch else None
        return ids, texts, first_row


class ShardWriter(EncodingActor):
    """Encodes and writes one shard per batch; returns the shard's record as a one-row
    batch."""

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        ids, texts, first_row = self.read(batch)
        metadata = _metadata_column(batch["metadata"]) if "metadata" in batch else None
        record = write_shard(self._folder, ids, self._encode(texts), metadata, first_row=first_row)
        return {key: [value] for key, value in asdict(record).items()}


# -- helpers -------------------------------------------------------------------------------
def _resources(
    ray: Any, num_actors: int | None, gpus_per_actor: float | None, cpus_per_actor: float
) -> tuple[float, int]:
    cluster = ray.cluster_resources()
    total_gpus = float(cluster.get("GPU", 0))
    gpus = (1.0 if total_gpus >= 1 else 0.0) if gpus_per_actor is None else float(gpus_per_actor)
    if gpus > total_gpus:
        msg = (
            f"num_gpus_per_actor={gpus} but the Ray cluster has {total_gpus:g} GPUs; "
            "pass num_gpus_per_actor=0 to encode on CPUs."
        )
        raise ConfigError(msg)
    if num_actors is None:
        share = int(total_gpus // gpus) if gpus else int(cluster.get("CPU", 1) // cpus_per_actor)
        num_actors = max(1, share)
    if isinstance(num_actors, bool) or not isinstance(num_actors, int) or num_actors < 1:
        msg = f"num_actors must be a positive integer; got {num_actors!r}."
        raise ConfigError(msg)
    return gpus, num_actors


def _dataset(ray: Any, documents: Any, batch_size: int, num_blocks: int | None) -> Any:
    if isinstance(documents, ray.data.Dataset):
        missing = {"id", "text"} - set(documents.schema().names)
        if missing:
            msg = f"The Ray dataset lacks column(s) {sorted(missing)}; it needs 'id' and 'text'."
            raise ConfigError(msg)
        return documents
    ids, texts, metadata = _columns(documents)
    rows = [
        {"row": i, "id": ids[i], "text": texts[i], "metadata": json.dumps(metadata[i])}
        for i in range(len(ids))
    ]
    blocks = num_blocks or max(1, math.ceil(len(rows) / batch_size))
    return ray.data.from_items(rows, override_num_blocks=blocks)


def _columns(
    documents: Sequence[Document],
) -> tuple[list[str], list[str], list[dict[str, Any] | None]]:
    """Validate documents: non-empty unique string ids, string texts, dict-or-None metadata."""
    ids, texts, metadata = [], [], []
    for position, doc in enumerate(documents):
        if not isinstance(doc, Mapping) or "id" not in doc or "text" not in doc:
            msg = (
                f"Document {position} is {doc!r:.80}; give dicts like "
                '{"id": "d1", "text": "...", "metadata": {...}}.'
            )
            raise ConfigError(msg)
        doc_id, text, meta = doc["id"], doc["text"], doc.get("metadata")
        if not isinstance(doc_id, str) or not doc_id or not isinstance(text, str):
            msg = f"Document {position}: id must be a non-empty string and text a string."
            raise ConfigError(msg)
        if meta is not None and not isinstance(meta, Mapping):
            msg = f"Document {doc_id!r}: metadata must be a dict or None; got {meta!r:.80}."
            raise ConfigError(msg)
        ids.append(doc_id)
        texts.append(text)
        metadata.append(None if meta is None else dict(meta))
    if not ids:
        msg = "The corpus is empty; give at least one document."
        raise ConfigError(msg)
    if len(set(ids)) != len(ids):
        duplicate = next(i for i, n in Counter(ids).items() if n > 1)
        msg = f"Document id {duplicate!r} appears twice; ids must be unique."
        raise ConfigError(msg)
    return ids, texts, metadata


def _metadata_column(values: Any) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    for value in values:
        parsed = json.loads(value) if isinstance(value, str | bytes) else value
        out.append(dict(parsed) if isinstance(parsed, Mapping) else None)
    return out


def _output_folder(output_dir: str | os.PathLike[str], overwrite: bool) -> Path:
    folder = Path(output_dir)
    if (folder / MANIFEST_NAME).exists() and not overwrite:
        msg = (
            f"{folder} already holds committed shards. Open them with ShardSet.open, choose "
            "another folder, or pass overwrite=True."
        )
        raise ConfigError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        msg = f"batch_size must be a positive integer; got {batch_size!r}."
        raise ConfigError(msg)


def _model_name(spec: EncoderSpec) -> str | None:
    model = getattr(spec, "model", None)
    return None if model is None else str(model)


def _check_unique(shards: ShardSet) -> None:
    """The committed shards hold each id once (guards the exactly-once claim)."""
    ids = shards.ids()
    if len(set(ids)) != len(ids):
        msg = (
            f"{shards.path}: {len(ids) - len(set(ids))} ids appear in more than one shard. "
            "The input held duplicate ids or a task was committed twice; re-run the encode."
        )
        raise IndexCorruptError(msg)
