"""Distributed encoding with Ray Data, and the embedding-shard format it shares with the
single-node path.

* ``encode_corpus_with_ray(documents, out_dir, model=..., address=...)`` - actor pool of
  ``encoders.LLM`` workers writing shards (``pip install "retrieval-toolkit[ray]"``).
* ``encode_corpus(documents, out_dir, ...)`` - the same shards from this process.
* ``build_index(shards, index)`` - stream shards into any toolkit index.
* ``encode_parts_with_ray(documents, out_dir, encoder=...)`` - several representations per
  item from one pass (one shard folder per part).
* ``RayBackend(address, actors=...)`` - ``retrieval index --ray``: a collection's chunks
  encoded on Ray (``adapters.collection.index_sources(..., backend=...)``).

``ray`` is imported only when ``encode_corpus_with_ray`` runs.
"""

from __future__ import annotations

from adapters.ray.build import build_index
from adapters.ray.encode import Document, ShardWriter, encode_corpus, encode_corpus_with_ray
from adapters.ray.encoder import EncoderSpec, LLMEncoder
from adapters.ray.indexing import RayBackend
from adapters.ray.parts import EncodedParts, PartShards, encode_parts_with_ray
from adapters.ray.shards import (
    REPRESENTATIONS,
    Representation,
    Shard,
    ShardRecord,
    ShardSet,
    commit_manifest,
    write_shard,
)

__all__ = [
    "REPRESENTATIONS",
    "Document",
    "EncodedParts",
    "EncoderSpec",
    "LLMEncoder",
    "PartShards",
    "RayBackend",
    "Representation",
    "Shard",
    "ShardRecord",
    "ShardSet",
    "ShardWriter",
    "build_index",
    "commit_manifest",
    "encode_corpus",
    "encode_corpus_with_ray",
    "encode_parts_with_ray",
    "write_shard",
]
