"""PLAID token index: residual-compressed multi-vectors, centroid-pruned search, exact MaxSim
re-scoring of the best candidates (``PlaidIndex``)."""

from __future__ import annotations

from late_interaction.plaid.config import PlaidConfig
from late_interaction.plaid.index import PlaidIndex
from late_interaction.plaid.search import SearchParams

__all__ = ["PlaidConfig", "PlaidIndex", "SearchParams"]
