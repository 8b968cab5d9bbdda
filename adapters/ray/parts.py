"""Several representations from one encode: one shard folder per part, over Ray Data.

An index kind may keep two representations of each item from one forward pass (``hybrid``:
a dense vector and token vectors). The encoder then returns an ``EncodedParts`` per batch and
each part is written as an ordinary shard (``adapters.ray.shards``) under ``OUT/<part>/``;
every part folder gets its own manifest, so each is a complete ``ShardSet``. A batch's shard
has the same name in every part folder (the name depends on the batch's ids and position
only), which is how the parts of one item are matched up again.

    parts = encode_parts_with_ray(docs, "window.shards", encoder=spec, num_actors=4)
    for name in parts.shard_names:
        dense = parts.sets["dense"].read(name)      # the same ids, in the same order,
        tokens = parts.sets["tokens"].read(name)    # as every other part's shard `name`

Retries are as safe as ``encode_corpus_with_ray``'s: names are deterministic, writes atomic,
and each part's manifest lists only the shards of finished tasks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from adapters.ray.encode import (
    ActorPool,
    Document,
    EncodingActor,
    _check_batch_size,
    _check_unique,
    _dataset,
    _model_name,
    _output_folder,
)
from adapters.ray.encoder import EncoderSpec
from adapters.ray.session import import_ray, ray_session
from adapters.ray.shards import Encoded, ShardRecord, ShardSet, commit_manifest, write_shard
from retrieval.errors import ConfigError, IndexCorruptError


@dataclass(frozen=True)
class EncodedParts:
    """What a multi-part encoder returns for a batch of ``n`` items."""

    parts: Mapping[str, Encoded]
    """Part name (a folder name: letters, digits, ``_``) -> the batch's ``n`` items."""
    n_tokens: int = 0
    """Model tokens the batch took (reported back for throughput)."""


@dataclass(frozen=True)
class PartShards:
    """The committed parts of one encode."""

    sets: dict[str, ShardSet]
    """Part name -> its shard folder."""
    tokens: dict[str, int]
    """Shard name -> model tokens its batch took."""

    @property
    def shard_names(self) -> list[str]:
        """Shard names in corpus order (the same in every part)."""
        return next(iter(self.sets.values())).shard_names


def encode_parts_with_ray(
    documents: Sequence[Document],
    output_dir: str | os.PathLike[str],
    *,
    encoder: EncoderSpec,
    address: str | None = None,
    batch_size: int = 64,
    num_actors: int | None = None,
    num_gpus_per_actor: float | None = None,
    num_cpus_per_actor: float = 1,
    overwrite: bool = False,
    ray_init_kwargs: Mapping[str, Any] | None = None,
) -> PartShards:
    """Encode ``documents`` (``{"id", "text"}`` dicts) with an encoder whose batch function
    returns ``EncodedParts``; one shard folder per part under ``output_dir``.

    Resources and ``address`` as in ``encode_corpus_with_ray``.
    """
    ray = import_ray()
    folder = _output_folder(output_dir, overwrite)
    _check_batch_size(batch_size)
    with ray_session(ray, address, ray_init_kwargs):
        dataset = _dataset(ray, documents, batch_size, None)
        pool = ActorPool.size(ray, num_actors, num_gpus_per_actor, num_cpus_per_actor)
        rows = pool.run(dataset, PartsWriter, encoder, folder, batch_size)
    return commit_parts(folder, rows, _model_name(encoder))


class PartsWriter(EncodingActor):
    """The Ray Data actor: one shard per part per batch; returns one row per shard written
    (the shard's record plus its ``part`` and the batch's ``n_tokens``)."""

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        ids, texts, first_row = self.read(batch)
        encoded = self._encode(texts)
        if not isinstance(encoded, EncodedParts) or not encoded.parts:
            msg = f"A multi-part encoder returned {type(encoded).__name__}, not EncodedParts."
            raise ConfigError(msg)
        rows: list[dict[str, Any]] = []
        for part, items in encoded.parts.items():
            target = self._folder / _check_part(part)
            target.mkdir(exist_ok=True)
            record = write_shard(target, ids, items, None, first_row=first_row)
            rows.append({"part": part, "n_tokens": int(encoded.n_tokens), **asdict(record)})
        return {key: [row[key] for row in rows] for key in rows[0]}


def commit_parts(folder: Path, rows: list[dict[str, Any]], model: str | None) -> PartShards:
    """Commit each part's manifest from the rows the finished tasks returned."""
    names = {f.name for f in fields(ShardRecord)}
    by_part: dict[str, list[ShardRecord]] = {}
    tokens: dict[str, int] = {}
    for row in rows:
        record = ShardRecord(**{k: v for k, v in row.items() if k in names})
        by_part.setdefault(str(row["part"]), []).append(record)
        tokens[record.name] = int(row["n_tokens"])
    if not by_part:
        msg = f"No shards to commit in {folder}: the corpus was empty."
        raise ConfigError(msg)
    sets = {}
    for part, records in by_part.items():
        commit_manifest(folder / part, records, model)
        sets[part] = ShardSet.open(folder / part)
        _check_unique(sets[part])
    listings = {part: shard_set.shard_names for part, shard_set in sets.items()}
    if len({tuple(names) for names in listings.values()}) != 1:
        msg = f"The parts in {folder} hold different batches: {sorted(listings)}; re-encode."
        raise IndexCorruptError(msg)
    return PartShards(sets, tokens)


def _check_part(name: str) -> str:
    if not name or not name.replace("_", "").isalnum():
        msg = f"Part name {name!r} must be a plain folder name (letters, digits, '_')."
        raise ConfigError(msg)
    return name
