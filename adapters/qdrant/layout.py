"""The shape of a Qdrant collection (which named vectors, which metrics) and the client.

``connect`` returns a ``QdrantClient`` for a server URL, a local folder or memory: the same
API in all three cases, so everything above it runs unchanged against a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from retrieval.errors import ConfigError, MissingDependencyError

VectorKind = Literal["dense", "sparse", "multivector"]
VECTOR_KINDS: tuple[str, ...] = get_args(VectorKind)
_DISTANCES = {"cosine": "COSINE", "ip": "DOT", "dot": "DOT", "l2": "EUCLID"}


def client_module() -> Any:
    """``qdrant_client``, or a ``MissingDependencyError`` naming the extra."""
    try:
        import qdrant_client
    except ImportError as err:
        package = "qdrant-client"
        raise MissingDependencyError(package, "qdrant") from err
    return qdrant_client


@dataclass(frozen=True)
class Layout:
    """Which named vectors a collection has, and how each is compared."""

    dense_dim: int | None = None
    """Width of the ``dense`` vector, or ``None`` for no dense vector."""
    dense_metric: str = "cosine"
    """``cosine`` | ``ip`` | ``l2`` (``FaissIndex``'s metrics)."""
    sparse: bool = False
    """Whether points carry a ``sparse`` vector (SPLADE / BGE-M3 lexical weights)."""
    multivector_dim: int | None = None
    """Width of each token vector of ``multivector`` (ColBERT 128), or ``None``."""
    multivector_metric: str = "ip"
    """Token similarity inside MaxSim: ``ip`` (ColBERT vectors are normalised) or ``cosine``."""

    def kinds(self) -> tuple[str, ...]:
        present = (self.dense_dim is not None, self.sparse, self.multivector_dim is not None)
        return tuple(kind for kind, on in zip(VECTOR_KINDS, present, strict=True) if on)


def connect(url: str | None = None, path: str | None = None, api_key: str | None = None) -> Any:
    """A ``QdrantClient`` for a server ``url``, a local ``path`` or (neither) memory."""
    if url is not None and path is not None:
        msg = "Give url= (a Qdrant server) or path= (local mode), not both."
        raise ConfigError(msg)
    module = client_module()
    if url is not None:
        return module.QdrantClient(url=url, api_key=api_key)
    return module.QdrantClient(path=path) if path is not None else module.QdrantClient(":memory:")


def distance(models: Any, metric: str) -> Any:
    if metric not in _DISTANCES:
        msg = f"Unknown metric {metric!r}. Valid: cosine, ip, l2."
        raise ConfigError(msg)
    return getattr(models.Distance, _DISTANCES[metric])


def check_layout(layout: Layout) -> None:
    if not layout.kinds():
        msg = "A QdrantStore needs dense_dim=, sparse=True or multivector_dim= (at least one)."
        raise ConfigError(msg)
    for name, dim in (("dense_dim", layout.dense_dim), ("multivector_dim", layout.multivector_dim)):
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            msg = f"{name} must be a positive integer; got {dim!r}."
            raise ConfigError(msg)
    for metric in (layout.dense_metric, layout.multivector_metric):
        if metric not in _DISTANCES:
            msg = f"Unknown metric {metric!r}. Valid: cosine, ip, l2."
            raise ConfigError(msg)


def read_layout(info: Any) -> Layout:
    reverse = {"Cosine": "cosine", "Dot": "ip", "Euclid": "l2"}
    params = info.config.params
    vectors = params.vectors if isinstance(params.vectors, dict) else {}
    dense, multi = vectors.get("dense"), vectors.get("multivector")

    def metric(vector: Any) -> str:
        name = getattr(vector.distance, "value", str(vector.distance))
        return reverse.get(name, "cosine")

    return Layout(
        dense_dim=None if dense is None else int(dense.size),
        dense_metric="cosine" if dense is None else metric(dense),
        sparse="sparse" in (params.sparse_vectors or {}),
        multivector_dim=None if multi is None else int(multi.size),
        multivector_metric="ip" if multi is None else metric(multi),
    )
