"""The ways the world drives the toolkit: CLI (now), HTTP server, LangChain, Ray, Qdrant
(later). The only composition root: may import every other package.

Note: ``adapters`` is also the import name of the AdapterHub library; do not install both
into one environment.
"""

from __future__ import annotations
