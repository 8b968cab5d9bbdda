"""The names a config or CLI flag may give for the hybrid's fusion (stdlib only, so help
screens list them without importing numpy)."""

from __future__ import annotations

FUSION_CHOICES: tuple[str, ...] = ("agreement", "zscore", "dbsf", "minmax", "rrf", "weighted")
"""``agreement`` (the default: agreement-weighted z-scores), a normalisation with fixed
weights (``zscore``, ``dbsf``, ``minmax``; ``weighted`` = ``minmax``, its old name) or ``rrf``
(reciprocal rank fusion)."""
