"""LangChain's ``ToolsUnitTests`` / ``ToolsIntegrationTests``, run unmodified, on
``RetrievalRetriever`` exposed to agents through LangChain's ``create_retriever_tool``."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import BaseTool, create_retriever_tool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from adapters.langchain import RetrievalRetriever
from retrieval import IndexStage, Retriever
from tests.adapters.langchain.corpus import dense_store
from tests.adapters.langchain.models import minilm

pytestmark = [pytest.mark.realmodel, pytest.mark.usefixtures("shared_minilm")]


def _tool() -> BaseTool:
    store = dense_store(minilm())
    stage = IndexStage("dense", store.embeddings, store.index, "dense", depth=10)
    retriever = RetrievalRetriever(retriever=Retriever([stage]), documents=store, k=2)
    return create_retriever_tool(
        retriever, "search_papers", "Search the aerodynamics and cooking notes."
    )


class TestRetrieverToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return _tool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "hypersonic flow"}


class TestRetrieverToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return _tool()

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "hypersonic flow"}


def test_tool_returns_the_retrieved_text() -> None:
    text = _tool().invoke({"query": "how long should sourdough proof?"})
    assert "sourdough bread" in text
