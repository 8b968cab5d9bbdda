"""LangChain adapters: the toolkit's models, indexes, retriever and rerankers as LangChain parts.

* ``RetrievalEmbeddings`` (``langchain_core.embeddings.Embeddings``) over ``encoders.LLM``;
* ``RetrievalVectorStore`` (``VectorStore``) over any index of the toolkit's ``Index`` protocol;
* ``RetrievalRetriever`` (``BaseRetriever``) over ``retrieval.Retriever``;
* ``RetrievalReranker`` (``BaseDocumentCompressor``): cross-encoder or MaxSim reranking that keeps
  the score in ``metadata["relevance_score"]``.

Each is held to LangChain's own ``langchain-tests`` standard suites. Needs the ``langchain``
extra (``pip install "retrieval-toolkit[langchain]"``).
"""

from __future__ import annotations

from retrieval.errors import MissingDependencyError

try:
    import langchain_core  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised only without the extra
    package = "langchain-core"
    raise MissingDependencyError(package, extra="langchain") from err

from adapters.langchain.embeddings import RetrievalEmbeddings
from adapters.langchain.encoders import (
    DenseTextEncoder,
    MultiVectorTextEncoder,
    SparseTextEncoder,
    TextEncoder,
)
from adapters.langchain.reranker import RetrievalReranker
from adapters.langchain.retriever import RetrievalRetriever
from adapters.langchain.vectorstore import RetrievalVectorStore

__all__ = [
    "DenseTextEncoder",
    "MultiVectorTextEncoder",
    "RetrievalEmbeddings",
    "RetrievalReranker",
    "RetrievalRetriever",
    "RetrievalVectorStore",
    "SparseTextEncoder",
    "TextEncoder",
]
