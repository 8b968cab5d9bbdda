"""The composition root: the only package that may import every other one.

* ``adapters.collection`` - the toolkit's own workflow: one collection folder (chunks,
  their vectors in one or more indexes, the encoder and pipeline settings, the incremental
  state), the indexer that fills it from files, and the Retriever that searches it.
* ``adapters.evaluation`` - BEIR / TREC evaluation of a pipeline or of a collection.
* The doors, thin callers of the collection: ``cli`` (``retrieval index | search | info |
  eval | serve | migrate``), ``server`` (vLLM-compatible HTTP, ``/v1/search``),
  ``langchain`` (``RetrievalVectorStore`` and friends), ``ray`` (encoding on a cluster),
  ``qdrant`` (indexes in Qdrant).

``adapters.pipeline`` and ``adapters.indexing`` are the 0.1 import paths of parts of
``adapters.collection``.

Note: ``adapters`` is also the import name of the AdapterHub library; do not install both
into one environment.
"""

from __future__ import annotations
