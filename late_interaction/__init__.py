"""Multi-vector retrieval: MaxSim kernels, packing and the PLAID token index.

Imports ``retrieval`` only. ``maxsim`` scores one query against packed documents,
``maxsim_matrix`` many queries at once; ``PlaidIndex`` is the compressed PLAID token index.
"""

from __future__ import annotations

from late_interaction.maxsim import (
    DEFAULT_CHUNK_TOKENS,
    REDUCTIONS,
    Reduce,
    gather_documents,
    maxsim,
    maxsim_matrix,
    maxsim_reference,
    maxsim_rows,
)
from late_interaction.plaid import PlaidConfig, PlaidIndex

__all__ = [
    "DEFAULT_CHUNK_TOKENS",
    "REDUCTIONS",
    "PlaidConfig",
    "PlaidIndex",
    "Reduce",
    "gather_documents",
    "maxsim",
    "maxsim_matrix",
    "maxsim_reference",
    "maxsim_rows",
]
