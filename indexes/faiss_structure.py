"""Building and querying the faiss objects behind ``FaissIndex``.

faiss is imported lazily (``load_faiss``) so the package imports without it. Labels (int64)
are the metadata store's; flat, HNSW and sq8 structures sit in an ``IndexIDMap2`` (which also
lets us reconstruct vectors by label), IVF kinds take the labels directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from indexes.faiss_config import FaissConfig
from retrieval.errors import IndexCorruptError, MissingDependencyError

_TRAIN_SAMPLE_PER_LIST = 256  # faiss' own k-means cap per centroid; more adds time, not quality
_TRAIN_SAMPLE_MIN = 65_536  # PQ / SQ codebooks want a decent sample even when nlist is small


def load_faiss() -> Any:
    """The ``faiss`` module, or a ``MissingDependencyError`` naming the extra to install."""
    try:
        import faiss
    except ImportError as err:
        package = "faiss-cpu"
        raise MissingDependencyError(package, extra="faiss") from err
    return faiss


def faiss_metric(faiss: Any, config: FaissConfig) -> int:
    """faiss metric constant: L2 for ``l2``, inner product for ``ip`` and ``cosine``."""
    return faiss.METRIC_L2 if config.metric == "l2" else faiss.METRIC_INNER_PRODUCT


def new_untrained(faiss: Any, config: FaissConfig) -> Any:
    """An empty structure that needs no training: the kind itself for flat / HNSW, else an
    exact flat stand-in that serves until there are enough vectors to train."""
    metric = faiss_metric(faiss, config)
    if config.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(config.dim, config.hnsw_m, metric)
        inner.hnsw.efConstruction = config.ef_construction
    else:
        inner = faiss.IndexFlat(config.dim, metric)
    return faiss.IndexIDMap2(inner)


def new_trained(
    faiss: Any, config: FaissConfig, vectors: np.ndarray, labels: np.ndarray
) -> tuple[Any, int]:
    """Train a structure of ``config.kind`` on (a sample of) ``(n, dim)`` ``vectors``, add them
    under ``labels`` and return it with the number of IVF lists used (0 for sq8)."""
    metric = faiss_metric(faiss, config)
    nlist = config.nlist_for(len(vectors)) if config.kind in ("ivf", "ivfpq") else 0
    if config.kind == "sq8":
        index = faiss.IndexIDMap2(
            faiss.IndexScalarQuantizer(config.dim, faiss.ScalarQuantizer.QT_8bit, metric)
        )
    elif config.kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlat(config.dim, metric), config.dim, nlist, metric)
    else:
        quantizer = faiss.IndexFlat(config.dim, metric)
        m, bits = config.resolved_pq_m, config.pq_bits
        index = faiss.IndexIVFPQ(quantizer, config.dim, nlist, m, bits, metric)
    index.train(_training_sample(vectors, max(_TRAIN_SAMPLE_PER_LIST * nlist, _TRAIN_SAMPLE_MIN)))
    index.add_with_ids(vectors, labels)
    return index, nlist


def _training_sample(vectors: np.ndarray, limit: int) -> np.ndarray:
    if len(vectors) <= limit:
        return vectors
    rng = np.random.default_rng(0)  # fixed seed: the same data trains the same index
    return vectors[np.sort(rng.choice(len(vectors), size=limit, replace=False))]


def stored(faiss: Any, index: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (n,), vectors (n, dim))`` held by an ``IndexIDMap2`` over flat / HNSW."""
    labels = faiss.vector_to_array(index.id_map).astype(np.int64)
    vectors = index.index.reconstruct_n(0, index.ntotal) if index.ntotal else None
    if vectors is None:
        vectors = np.zeros((0, index.d), np.float32)
    return labels, vectors


def search_params(
    faiss: Any, config: FaissConfig, trained: bool, sel: Any, nprobe: int, ef_search: int
) -> Any:
    """``SearchParameters`` for one search (``None`` when the defaults do). The selector is
    not owned by the parameters: the caller keeps it alive during the search."""
    if config.kind == "hnsw":
        params = faiss.SearchParametersHNSW()
        params.efSearch = ef_search
    elif trained and config.kind in ("ivf", "ivfpq"):
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe
    elif sel is None:
        return None
    else:
        params = faiss.SearchParameters()
    if sel is not None:
        params.sel = sel
    return params


def search(
    faiss: Any, index: Any, queries: np.ndarray, k: int, params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``(distances, labels)``, each ``(n, k)``, of C-contiguous float32 ``(n, d)`` queries.

    Calls faiss' C++ ``search`` through ``search_c`` as faiss' own Python wrapper does, minus
    that wrapper's argument checks and conversions (ours are done once, upstream): on a fast
    HNSW or IVF-PQ search they are a measurable share of one query's time.
    """
    n = len(queries)
    distances = np.empty((n, k), dtype=np.float32)
    labels = np.empty((n, k), dtype=np.int64)
    ptr = faiss.swig_ptr
    index.search_c(n, ptr(queries), k, ptr(distances), ptr(labels), params)
    return distances, labels


def bitmap_selector(faiss: Any, labels: np.ndarray) -> tuple[np.ndarray, Any]:
    """An ``IDSelectorBitmap`` over sorted ``labels`` plus the bitmap it points into (keep
    both alive together). Membership tests are O(1) bit lookups."""
    size = int(labels[-1]) + 1 if len(labels) else 1
    bits = np.zeros(size, dtype=bool)
    bits[labels] = True
    bitmap = np.packbits(bits, bitorder="little")  # faiss reads bit (i & 7) of byte i >> 3
    return bitmap, faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))


def write(faiss: Any, index: Any, path: Path) -> None:
    faiss.write_index(index, str(path))


def read(faiss: Any, path: Path) -> Any:
    """Read a faiss file; faiss' own parse errors become an ``IndexCorruptError``."""
    try:
        return faiss.read_index(str(path))
    except RuntimeError as err:
        msg = f"faiss cannot read {path} ({err}). Restore the folder or rebuild the index."
        raise IndexCorruptError(msg) from err
