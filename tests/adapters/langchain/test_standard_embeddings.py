"""LangChain's own standard suites for ``RetrievalEmbeddings``, run unmodified on the real
all-MiniLM-L6-v2."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from adapters.langchain import RetrievalEmbeddings
from tests.adapters.langchain.models import minilm

pytestmark = [pytest.mark.realmodel, pytest.mark.usefixtures("shared_minilm")]


class TestRetrievalEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[RetrievalEmbeddings]:
        return RetrievalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": minilm()}


class TestRetrievalEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[RetrievalEmbeddings]:
        return RetrievalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": minilm()}
