"""Dense (FAISS, exact flat) and sparse (inverted) indexes.

Imports ``retrieval`` only. Its public names (``FaissIndex``, ``SparseIndex``) arrive with
the index issue.
"""

from __future__ import annotations
