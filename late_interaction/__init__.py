"""Multi-vector retrieval: MaxSim kernels, packing and the PLAID token index.

Imports ``retrieval`` only. Its public names (``maxsim``, ``PlaidIndex``) arrive with the
late-interaction issues.
"""

from __future__ import annotations
