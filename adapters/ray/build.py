"""Build the toolkit's indexes from embedding shards, one shard at a time.

Memory stays bounded by one shard plus the index itself, so a corpus encoded on a cluster is
indexed on one machine with the same code as a locally encoded one. Any index following
``retrieval.protocols.Index`` works: ``FaissIndex`` / ``ExactIndex`` for dense shards,
``SparseIndex`` for sparse shards, and a multi-vector index (``late_interaction.PlaidIndex``,
or the Qdrant adapter) for multi-vector shards, whose ``add`` takes the packed
``MultiVectorEmbeddings`` each shard yields.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from adapters.ray.shards import ShardSet
from retrieval.protocols import Index

IndexT = TypeVar("IndexT", bound=Index)


def build_index(
    shards: ShardSet | str | os.PathLike[str],
    index: IndexT,
    *,
    save: bool = True,
    on_shard: Callable[[int, int], None] | None = None,
) -> IndexT:
    """Add every shard's items (ids, vectors, metadata) to ``index`` in corpus order.

    With ``save`` the index is committed at the end when it lives in a folder (an in-memory
    index, created with ``path=None``, is left as is). ``on_shard(done, total)`` reports
    progress after each shard. Returns ``index``.
    """
    shard_set = shards if isinstance(shards, ShardSet) else ShardSet.open(shards)
    names = shard_set.shard_names
    for done, name in enumerate(names, start=1):
        shard = shard_set.read(name)
        index.add(shard.ids, shard.embeddings, shard.metadata)
        if on_shard is not None:
            on_shard(done, len(names))
    if save and getattr(index, "path", None) is not None:
        index.save()
    return index
