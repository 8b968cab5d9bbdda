"""LangChain's own ``RetrieversIntegrationTests`` for ``RetrievalRetriever``, run unmodified
over a ``retrieval.Retriever`` searching a FAISS index filled with the real all-MiniLM-L6-v2."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from adapters.langchain import RetrievalRetriever
from retrieval import IndexStage, Retriever
from tests.adapters.langchain.corpus import dense_store
from tests.adapters.langchain.models import minilm

pytestmark = [pytest.mark.realmodel, pytest.mark.usefixtures("shared_minilm")]


class TestRetrievalRetriever(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[RetrievalRetriever]:
        return RetrievalRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        store = dense_store(minilm())
        stage = IndexStage("dense", store.embeddings, store.index, "dense", depth=10)
        return {"retriever": Retriever([stage]), "documents": store}

    @property
    def retriever_query_example(self) -> str:
        return "hypersonic flow around a blunt body"
