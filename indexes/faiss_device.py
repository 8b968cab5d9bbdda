"""Where ``FaissIndex`` searches: a GPU when faiss has one (faiss-gpu), else the CPU.

faiss' GPU support is a separate install from torch's CUDA, so this asks faiss itself
(``faiss.get_num_gpus()``) rather than torch. The CPU index stays the master copy (writes,
persistence, filtered search: faiss' GPU indexes take no id selectors); unfiltered searches
use a GPU copy made on first use and dropped after every write.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from retrieval.errors import ConfigError, DeviceUnavailableError

GPU_KINDS: tuple[str, ...] = ("flat", "ivf", "ivfpq")
"""Kinds faiss can clone to a GPU (HNSW and flat sq8 have no GPU implementation)."""
GPU_MAX_K = 2048
"""faiss' GPU k-selection limit; larger ``k`` searches on the CPU."""
_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def resolve_gpu(faiss: Any, device: object, kind: str) -> int | None:
    """The GPU ordinal to search on, or ``None`` for the CPU.

    ``auto`` takes GPU 0 when faiss sees a GPU and ``kind`` runs there, else the CPU;
    ``cpu`` forces the CPU; ``cuda`` / ``cuda:N`` without a usable faiss GPU is an error.
    """
    spec = str(device).strip().lower()
    if not _DEVICE.match(spec):
        msg = f"Unknown device {device!r}. Valid: auto, cpu, cuda, cuda:N (e.g. cuda:0)."
        raise ConfigError(msg)
    if spec == "cpu":
        return None
    count = int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    if spec == "auto":
        return 0 if count and kind in GPU_KINDS else None
    if not count:
        msg = (
            f"device={device!r} was requested but the installed faiss sees no GPU. Install a "
            "GPU build (pip install faiss-gpu-cu12) on a CUDA machine, or use device='auto'."
        )
        raise DeviceUnavailableError(msg)
    if kind not in GPU_KINDS:
        msg = (
            f"FAISS kind {kind!r} has no GPU implementation (GPU kinds: {', '.join(GPU_KINDS)}). "
            "Use device='cpu' or device='auto'."
        )
        raise ConfigError(msg)
    ordinal = int(spec.split(":")[1]) if ":" in spec else 0
    if ordinal >= count:
        msg = f"Device {device!r} does not exist: faiss sees {count} GPU(s)."
        raise DeviceUnavailableError(msg)
    return ordinal


class GpuReplica:
    """A lazily made GPU copy of a CPU index."""

    def __init__(self, faiss: Any, ordinal: int) -> None:
        self.ordinal = ordinal
        self._faiss = faiss
        self._resources: Any = None
        self._copy: Any = None
        self._mutex = threading.Lock()

    def invalidate(self) -> None:
        """Drop the copy (called under the index's write lock after every write)."""
        self._copy = None

    def get(self, cpu_index: Any, kind: str) -> Any:
        """The GPU copy of ``cpu_index``, made now if a write invalidated it."""
        with self._mutex:
            if self._copy is None:
                if self._resources is None:
                    self._resources = self._faiss.StandardGpuResources()
                options = self._faiss.GpuClonerOptions()
                # IVF-PQ with many sub-quantisers needs half-precision lookup tables to fit
                # in shared memory.
                options.useFloat16 = kind == "ivfpq"
                self._copy = self._faiss.index_cpu_to_gpu(
                    self._resources, self.ordinal, cpu_index, options
                )
            return self._copy
