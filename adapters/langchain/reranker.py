"""``RetrievalReranker``: cross-encoder or MaxSim reranking as a LangChain document compressor.

Plug it into ``ContextualCompressionRetriever(base_compressor=reranker, base_retriever=...)``.
Unlike LangChain's own ``CrossEncoderReranker``, the score is kept: every returned document is
a copy carrying ``metadata["relevance_score"]`` (its ``id`` kept), best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, model_validator

from encoders import LLM
from late_interaction import maxsim
from retrieval.errors import ConfigError

RerankMode = Literal["auto", "cross_encoder", "maxsim"]
RERANK_MODES: tuple[str, ...] = get_args(RerankMode)


class RetrievalReranker(BaseDocumentCompressor):
    """Rerank documents for a query with an ``encoders.LLM`` and keep the best ``top_n``.

    ``mode``: ``cross_encoder`` reads each (query, document) pair jointly (``LLM.score`` of a
    single-label sequence classifier; scores in [0, 1] with its sigmoid); ``maxsim`` scores
    late interaction (ColBERT models, or any model's token embeddings: sum over query tokens
    of the best document-token cosine); ``auto`` picks ``cross_encoder`` for models that score
    pairs and ``maxsim`` for models with token embeddings.

    Example::

        reranker = RetrievalReranker(model=LLM("cross-encoder/ms-marco-MiniLM-L6-v2"), top_n=3)
        docs = reranker.compress_documents(docs, "what is late interaction?")
        docs[0].metadata["relevance_score"]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any
    """An ``encoders.LLM`` (cross-encoder, ColBERT or any token-embedding model)."""
    top_n: int | None = Field(default=3, ge=1)
    """How many documents to keep (``None`` keeps all, reordered)."""
    mode: RerankMode = "auto"
    """``auto | cross_encoder | maxsim`` (see the class docstring)."""
    score_key: str = "relevance_score"
    """The metadata key the score is written to."""

    @model_validator(mode="after")
    def _check_model(self) -> RetrievalReranker:
        if not isinstance(self.model, LLM):
            msg = f"model must be an encoders.LLM; got {type(self.model).__name__}."
            raise ConfigError(msg)
        self.mode = _resolve_mode(self.model, self.mode)
        return self

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The best ``top_n`` documents for ``query``, new copies with their score, best first."""
        docs = list(documents)
        if not docs:
            return []
        scores = self.score_texts(query, [d.page_content for d in docs])
        # sorted() is stable: equal scores keep the incoming (first-stage) order
        order = sorted(range(len(docs)), key=lambda i: -scores[i])[: self.top_n]
        return [_with_score(docs[i], self.score_key, scores[i]) for i in order]

    def score_texts(self, query: str, texts: Sequence[str]) -> list[float]:
        """One score per text, in the order given (higher is more relevant)."""
        if not isinstance(query, str):
            msg = f"query must be a string; got {type(query).__name__}."
            raise ConfigError(msg)
        texts = list(texts)
        if self.mode == "cross_encoder":
            # a long document is cut to the model's length (as sentence-transformers does)
            # instead of failing the whole rerank
            outputs = self.model.score(query, texts, truncate_prompt_tokens=-1, use_tqdm=False)
            return [float(o.outputs.score) for o in outputs]
        (query_tokens,) = self.model.encode_queries([query], use_tqdm=False)
        doc_tokens = self.model.encode_documents(texts, use_tqdm=False)
        return [float(s) for s in maxsim(query_tokens, doc_tokens).tolist()]


def _resolve_mode(llm: LLM, mode: RerankMode) -> RerankMode:
    """The concrete mode for ``llm`` (pydantic has already checked ``mode`` is a RerankMode)."""
    tasks = llm.supported_tasks
    pairs = "score" in tasks and llm.model.colbert is None
    tokens = "token_embed" in tasks or llm.model.colbert is not None
    if mode == "auto":
        if not (pairs or tokens):
            msg = (
                f"Model {llm.model.name!r} can neither score pairs nor embed tokens (tasks "
                f"{list(tasks)}); use a cross-encoder, a ColBERT model or an embedding model."
            )
            raise ConfigError(msg)
        return "cross_encoder" if pairs else "maxsim"
    if mode == "cross_encoder" and not pairs:
        msg = (
            f"Model {llm.model.name!r} is not a cross-encoder (tasks {list(tasks)}); "
            'use mode="maxsim" or a single-label sequence-classification model.'
        )
        raise ConfigError(msg)
    if mode == "maxsim" and not tokens:
        msg = f"Model {llm.model.name!r} has no token embeddings for MaxSim (tasks {list(tasks)})."
        raise ConfigError(msg)
    return mode


def _with_score(doc: Document, key: str, score: float) -> Document:
    metadata = {**doc.metadata, key: score}
    return Document(page_content=doc.page_content, metadata=metadata, id=doc.id)
