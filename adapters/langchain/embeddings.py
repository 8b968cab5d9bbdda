"""``RetrievalEmbeddings``: any dense model of the toolkit as LangChain ``Embeddings``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from adapters.collection.encoders import Encoder, configured_prompts
from encoders import DEFAULT_MODEL, LLM
from encoders.matryoshka import check_dimensions
from retrieval.errors import ConfigError


class RetrievalEmbeddings(Embeddings):
    """LangChain embeddings computed by ``encoders.LLM`` (pooled ``embed`` task).

    Queries and documents are two methods: each gets its prompt from the model's
    sentence-transformers config (``prompts["query"]``; ``"document"``, ``"passage"`` or
    ``"corpus"`` for documents; else the ``default_prompt_name`` one) unless given here.
    Vectors come back as lists of Python floats, normalised when the model normalises.

    Example::

        embeddings = RetrievalEmbeddings("sentence-transformers/all-MiniLM-L6-v2")
        vector = embeddings.embed_query("what is a vector store?")   # 384 floats
    """

    def __init__(
        self,
        model: str | LLM = DEFAULT_MODEL,
        *,
        dimensions: int | None = None,
        batch_size: int = 64,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        truncate: bool = True,
        device: str = "auto",
        **llm_kwargs: Any,
    ) -> None:
        """``model``: a model name / folder (loaded with ``LLM(model, device=device,
        **llm_kwargs)``) or an ``encoders.LLM`` already loaded, to share one model between
        parts. ``dimensions``: Matryoshka output size (models that declare support only).
        ``batch_size``: texts per ``LLM.embed`` call (bounds peak memory for long lists).
        ``truncate``: cut texts longer than the model accepts to its maximum length, as
        sentence-transformers does (``False``: such a text is an ``InputTooLongError``)."""
        if isinstance(model, LLM):
            if llm_kwargs or device != "auto":
                msg = (
                    "RetrievalEmbeddings got a loaded LLM together with loading options "
                    f"{sorted([*llm_kwargs, *(['device'] if device != 'auto' else [])])}; "
                    "pass those to LLM(...) instead."
                )
                raise ConfigError(msg)
            self.llm = model
        elif isinstance(model, str):
            self.llm = LLM(model, runner="pooling", device=device, **llm_kwargs)
        else:
            msg = f"model must be a model name, a folder or an encoders.LLM; got {model!r}."
            raise ConfigError(msg)
        if "embed" not in self.llm.supported_tasks:
            msg = (
                f"Model {self.llm.model.name!r} has no pooled embedding (its tasks are "
                f"{list(self.llm.supported_tasks)}); RetrievalEmbeddings needs a dense model."
            )
            raise ConfigError(msg)
        if dimensions is not None:
            check_dimensions(self.llm.model, dimensions)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a positive integer; got {batch_size!r}."
            raise ConfigError(msg)
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.truncate = truncate
        query, document = configured_prompts(self.llm)
        self.query_prompt = query if query_prompt is None else query_prompt
        self.document_prompt = document if document_prompt is None else document_prompt

    @property
    def model_name(self) -> str:
        """The model's name (a repo id or folder)."""
        return str(self.llm.model.name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, with the document prompt: ``len(texts)`` lists of floats."""
        return self._embed(texts, False, "texts")

    def embed_query(self, text: str) -> list[float]:
        """One vector for a query, with the query prompt."""
        if not isinstance(text, str):
            msg = f"embed_query takes one string; got {type(text).__name__}."
            raise ConfigError(msg)
        return self._embed([text], True, "text")[0]

    def encode_queries(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        """``{"dense": (n, dim) float32}``: the ``retrieval.QueryEncoder`` protocol, so these
        embeddings also drive a ``retrieval.Retriever`` first stage (``IndexStage``)."""
        vectors = self._embed(queries, True, "queries")
        return {"dense": np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)}

    def collection_encoder(self) -> Encoder:
        """The same embeddings as a collection's ``Encoder`` (what a ``RetrievalVectorStore``
        records, so ``retrieval search`` and ``RetrievalVectorStore.load`` rebuild them)."""
        return Encoder(
            self.llm,
            ("dense",),
            query_prompt=self.query_prompt,
            document_prompt=self.document_prompt,
            dimensions=self.dimensions,
            truncate=self.truncate,
        )

    def _embed(self, texts: Sequence[str], query: bool, what: str) -> list[list[float]]:
        if isinstance(texts, str):
            msg = f"embed_documents takes a list of strings; got the string {texts!r}. Wrap it."
            raise ConfigError(msg)
        texts = list(texts)
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            msg = f"Every {what} item must be a string; got {type(bad).__name__} ({bad!r})."
            raise ConfigError(msg)
        encoder = self.collection_encoder()  # the same seam a collection encodes with
        side = encoder.queries if query else encoder.documents
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            dense = side(texts[start : start + self.batch_size]).dense
            # LangChain's contract is Python floats (numpy.float32 fails isinstance(x, float))
            vectors += [] if dense is None else dense.tolist()
        return vectors
