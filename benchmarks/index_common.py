"""Helpers shared by the index benchmark scripts (imported from the scripts' own folder)."""

from __future__ import annotations

import sys


def percentiles(samples: list[float]) -> tuple[float, float]:
    """``(p50, p95)`` of ``samples``."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def python_flags() -> list[str]:
    """Pass ``-S`` on to workers, so a run from a source snapshot (``python -S`` with
    ``PYTHONPATH=snapshot:site-packages``) keeps using the snapshot."""
    return ["-S"] if sys.flags.no_site else []
