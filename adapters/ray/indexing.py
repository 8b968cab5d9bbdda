"""``retrieval index --ray``: the run's chunks are encoded by a Ray Data actor pool.

``RayBackend`` is the indexer's ``EncoderBackend`` for Ray. The indexer prepares chunks as
usual and hands them over a window (``RAY_WINDOW`` chunks, several batches) at a time.
``adapters.ray.encode_parts_with_ray`` encodes the window on the cluster - every actor
builds the collection's own ``Encoder`` from its manifest, so the vectors are those of a
plain run - into embedding shards, one shard folder per component (``dense`` / ``tokens`` /
``sparse``). The driver then streams the shards back in chunk order and adds them
batch by batch, saving at the same checkpoints with the same code as a plain run: the index,
its metadata and its incremental state come out the same, and a later run with or without
``--ray`` sees nothing to redo.

Crash safety is the plain run's: indexes are saved, then the state, at checkpoints; a killed
run redoes what came after the last one. Ray retries a failed task; its shard is rewritten
under the same name and each manifest lists only finished tasks, so a retry never duplicates
a chunk. The shard folders are scratch space (``<index>/.ray-shards`` unless ``--ray-shards
DIR``), deleted once a window has been read; a killed run's leftovers are deleted by the next
``--ray`` run. On a multi-machine cluster the shard folder must be on a file system every
worker can write.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adapters.collection.encoders import Encoded
from adapters.collection.indexing.backends import EMBED_SLICE, ChunkEncoder, Piece
from adapters.ray.encode import ActorPool
from adapters.ray.encoder import EncodeFn
from adapters.ray.parts import EncodedParts, PartShards, encode_parts_with_ray
from adapters.ray.session import (
    CONNECT_TIMEOUT_S,
    check_reachable,
    import_ray,
    ray_session,
)
from retrieval.errors import ConfigError, RetrievalError
from retrieval.multivector import MultiVectorEmbeddings
from retrieval.types import SparseEmbeddings

RAY_WINDOW = 4096
"""Chunks per Ray Data job: large enough to amortize starting the actor pool, small enough
that a window's token-vector shards stay a few GB on disk."""
SHARD_CHUNKS = EMBED_SLICE
"""Chunks per Ray batch, i.e. per shard (and per model call on an actor)."""
SHARDS_FOLDER = ".ray-shards"


@dataclass(frozen=True)
class IndexEncoder:
    """What each Ray actor runs: the collection's ``Encoder``, rebuilt from its manifest (an
    ``adapters.ray`` encoder spec returning ``EncodedParts``)."""

    config: dict[str, Any]
    """The collection's ``PipelineConfig.to_dict()`` (model names resolved for workers)."""
    spec: dict[str, Any]
    """The manifest's encoder entry (representations, prompts, ...)."""
    device: str = "auto"
    """Worker device; Ray decides which GPU a GPU actor sees."""

    def load(self) -> EncodeFn:
        from adapters.collection.config import PipelineConfig
        from adapters.collection.models import build_encoder

        config = PipelineConfig.from_mapping(self.config)
        encoder = build_encoder(config, self.spec, self.device)
        vocab = int(encoder.vocab_size)

        def run(texts: list[str]) -> EncodedParts:
            encoded = encoder.documents(texts)
            return EncodedParts(to_parts(encoded, vocab), encoded.n_tokens)

        return run  # type: ignore[return-value]


def to_parts(encoded: Encoded, vocab_size: int) -> dict[str, Any]:
    """The shard containers of an ``Encoded`` batch, by component name."""
    parts: dict[str, Any] = {}
    if encoded.dense is not None:
        parts["dense"] = encoded.dense
    if encoded.tokens is not None:
        parts["tokens"] = MultiVectorEmbeddings.from_list(encoded.tokens)
    if encoded.sparse is not None:
        parts["sparse"] = SparseEmbeddings.from_items(encoded.sparse, vocab_size)
    return parts


def from_parts(shards: PartShards, name: str) -> Piece:
    """Shard ``name`` of every part, as the ids and ``Encoded`` batch a plain run makes."""
    out = Encoded(n_tokens=shards.tokens.get(name, 0))
    ids: list[str] | None = None
    for part, shard_set in shards.sets.items():
        shard = shard_set.read(name)
        if ids is not None and shard.ids != ids:
            msg = f"Shard {name} holds different ids in its parts; re-run the command."
            raise ConfigError(msg)
        ids = shard.ids
        if part == "dense":
            out.dense = np.asarray(shard.embeddings, np.float32)
        elif part == "tokens":
            assert isinstance(shard.embeddings, MultiVectorEmbeddings)
            out.tokens = [t.numpy() for t in shard.embeddings.to_list()]
        else:
            out.sparse = [(i.astype(np.int64), v.astype(np.float32)) for i, v in shard.embeddings]
    return list(ids or []), out


_GPUS: dict[str, float | None] = {"auto": None, "cpu": 0.0, "cuda": 1.0}
"""``--device`` -> GPUs per Ray actor (``None``: one when the cluster has GPUs)."""


def check_ray_options(address: str, actors: int | None, device: str) -> None:
    """``ray`` is installed, the address is well formed, and the other options fit Ray."""
    import_ray()
    if address not in ("local", "auto"):
        check_reachable(address, CONNECT_TIMEOUT_S)  # bounded: no hang on a bad address
    if actors is not None and (isinstance(actors, bool) or actors < 1):
        msg = f"--ray-actors must be a positive number of actors; got {actors}."
        raise ConfigError(msg)
    if device not in _GPUS:
        msg = (
            f"--device {device} cannot be combined with --ray: Ray gives each actor its "
            "own GPU. Use --device auto (GPUs when the cluster has them), cuda or cpu."
        )
        raise ConfigError(msg)


class RayBackend:
    """``index_sources(..., backend=RayBackend("local", actors=2))``: encode on Ray.

    ``address``: ``local`` (a cluster on this machine for this run), ``auto`` (the one
    ``ray start --head`` runs here) or ``HOST:PORT`` / ``ray://HOST:10001``. ``shards``: a
    scratch folder every worker can write (default: inside the collection).
    """

    def __init__(
        self,
        address: str,
        *,
        actors: int | None = None,
        shards: str | Path | None = None,
        device: str = "auto",
    ) -> None:
        check_ray_options(address, actors, device)
        self.address, self.actors, self.shards, self.device = address, actors, shards, device

    def open(self, collection: Any, progress: bool) -> ChunkEncoder:
        return RayEncoder.for_run(collection, self, progress)


class RayEncoder:
    """Encodes windows of chunks on a Ray cluster (see the module docstring)."""

    window = RAY_WINDOW

    def __init__(
        self,
        spec: IndexEncoder,
        address: str,
        actors: int | None,
        gpus_per_actor: float | None,
        work: Path,
        progress: bool,
    ) -> None:
        self.spec = spec
        self.address = address
        self.actors = actors
        self.gpus_per_actor = gpus_per_actor
        self.work = work
        self.progress = progress
        self.windows = 0
        self.shards = 0
        self.pool: ActorPool | None = None
        self._ray: Any = None
        self._session: contextlib.ExitStack | None = None

    @classmethod
    def for_run(cls, collection: Any, backend: RayBackend, progress: bool) -> RayEncoder:
        """Check that ``--ray`` can run on this collection, and build the encoder."""
        if collection.manifest.encoder.get("images"):
            msg = (
                "--ray encodes text chunks; this index's model embeds page images. Index "
                "image corpora without --ray."
            )
            raise ConfigError(msg)
        collection.encoder  # noqa: B018 - fails here, not on a worker, when it cannot load
        gpus = _GPUS[backend.device]  # RayBackend checked the options
        config = collection.config.to_dict()
        for key in ("model", "sparse_model"):
            # Workers do not share the driver's working directory: give them absolute paths.
            local = Path(config[key]).expanduser() if config[key] else None
            if local is not None and local.exists():
                config[key] = str(local.resolve())
        device = "auto" if gpus is None else backend.device
        spec = IndexEncoder(config, dict(collection.manifest.encoder), device)
        work = collection.path / SHARDS_FOLDER
        if backend.shards is not None:  # one scratch folder per index: runs may share DIR
            tag = hashlib.sha256(str(collection.path.resolve()).encode("utf-8")).hexdigest()[:12]
            work = Path(backend.shards) / f"retrieval-index-{tag}"
        return cls(spec, backend.address, backend.actors, gpus, work, progress)

    def __enter__(self) -> RayEncoder:
        self._ray = import_ray()
        shutil.rmtree(self.work, ignore_errors=True)  # a killed run's scratch shards
        if self.address != "local":
            # Joining a running cluster is quick: fail on a wrong address before any work.
            # Starting a local one is not, and waits until there is something to encode.
            self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        shutil.rmtree(self.work, ignore_errors=True)

    def encode(self, ids: list[str], texts: list[Any]) -> Iterator[Piece]:
        if not ids:
            return
        self._start()
        self.windows += 1
        folder = self.work / f"window-{self.windows:06d}"
        shards = self._encode_window(ids, texts, folder)
        self.shards += len(shards.shard_names)
        try:
            for name in shards.shard_names:
                yield from_parts(shards, name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"encoder": "ray", "address": self.address}
        out.update(windows=self.windows, shards=self.shards, shard_size=SHARD_CHUNKS)
        if self.pool is not None:
            out.update(actors=self.pool.actors, gpus_per_actor=self.pool.gpus)
        return out

    def _start(self) -> None:
        """Join or start the cluster on first use (a run with nothing to encode never does)."""
        if self._session is not None:
            return
        ray = self._ray
        session = contextlib.ExitStack()
        session.enter_context(ray_session(ray, self.address, self._init_kwargs()))
        self._session = session
        if not self.progress:  # --quiet / --json: no per-job execution logs on stderr
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = self.progress
        self.pool = ActorPool.size(ray, self.actors, self.gpus_per_actor, 1)

    def _init_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"log_to_driver": self.progress}
        if not self.progress:
            kwargs["logging_level"] = logging.WARNING
        if self.address == "local":
            kwargs["include_dashboard"] = False
        return kwargs

    def _encode_window(self, ids: list[str], texts: list[Any], folder: Path) -> PartShards:
        docs = [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]
        assert self.pool is not None
        try:
            return encode_parts_with_ray(
                docs,
                folder,
                encoder=self.spec,
                batch_size=SHARD_CHUNKS,
                # No more actors than shards: an idle actor would only load the model.
                num_actors=min(self.pool.actors, -(-len(ids) // SHARD_CHUNKS)),
                num_gpus_per_actor=self.pool.gpus,
                overwrite=True,
            )
        except self._ray.exceptions.RayError as err:
            msg = (
                f"The Ray encode of {len(ids)} chunks failed on a worker: {_worker_error(err)}\n"
                "Checkpoints saved so far are kept; fix the cause and re-run to resume."
            )
            raise RetrievalError(msg) from err


_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception): ")


def _worker_error(err: BaseException) -> str:
    """The worker's own exception from a Ray error (Ray prefixes it with a remote traceback)."""
    lines = str(err).splitlines()
    starts = [i for i, line in enumerate(lines) if _ERROR_LINE.match(line)]
    text = "\n".join(lines[starts[-1] :]) if starts else str(err)
    return text.strip()[:2000]
