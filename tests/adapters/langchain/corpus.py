"""A small corpus indexed once per session for the retriever tests (MiniLM dense, SPLADE
sparse), through the adapters themselves: each store's index feeds a ``retrieval.Retriever``
first stage and the store supplies the documents' text."""

from __future__ import annotations

import functools

from langchain_core.documents import Document

from adapters.langchain import RetrievalEmbeddings, RetrievalVectorStore, SparseTextEncoder
from encoders import LLM

DOCS = [
    Document("Shock waves form ahead of a blunt body in hypersonic flow.", id="aero-1",
             metadata={"lang": "en", "topic": "aero"}),
    Document("Heat transfer to the nose of a re-entry vehicle is greatest at the stagnation "
             "point.", id="aero-2", metadata={"lang": "en", "topic": "aero"}),
    Document("Boundary layer transition on a flat plate at low speed.", id="aero-3",
             metadata={"lang": "en", "topic": "aero"}),
    Document("Die Stoßwelle vor einem stumpfen Körper im Hyperschall.", id="aero-4",
             metadata={"lang": "de", "topic": "aero"}),
    Document("A recipe for sourdough bread with a long cold proof.", id="food-1",
             metadata={"lang": "en", "topic": "food"}),
    Document("Roasting vegetables at high heat caramelises their sugars.", id="food-2",
             metadata={"lang": "en", "topic": "food"}),
]  # fmt: skip


@functools.cache
def dense_store(llm: LLM) -> RetrievalVectorStore:
    store = RetrievalVectorStore(embedding=RetrievalEmbeddings(llm))
    store.add_documents(DOCS)
    return store


@functools.cache
def sparse_store(llm: LLM) -> RetrievalVectorStore:
    store = RetrievalVectorStore(encoder=SparseTextEncoder(llm))
    store.add_documents(DOCS)
    return store
