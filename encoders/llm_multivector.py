"""``LLM`` methods beyond vLLM's five tasks: sparse and hybrid outputs, query / document
multi-vectors, and the image / mixed-input path of ColQwen3-style models.

A mixin, so ``llm.py`` stays a thin façade; every method here uses only the ``LLM``
attributes declared below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from encoders import colbert, scoring
from encoders.bge_m3 import lexical_weights, unused_token_ids
from encoders.engine import Engine, ProgressArg, Request
from encoders.inputs import Truncation, normalize_prompts, tokenize
from encoders.model import PoolingModel
from encoders.outputs import HybridEmbeddingOutput, PoolingOutput, PoolingRequestOutput
from encoders.params import Params, PoolingParams, one_params
from encoders.sparse import SparseEmbeddingOutput, from_weights, to_sparse
from encoders.vision.colqwen import ColQwenModel
from encoders.vision.items import VisionItem, parse_items
from encoders.vision.processor import side_item
from retrieval.errors import ConfigError


class MultiVectorMethods:
    """Sparse / hybrid / multi-vector / image methods of ``LLM``."""

    model: PoolingModel
    engine: Engine

    if TYPE_CHECKING:

        @property
        def supported_tasks(self) -> tuple[str, ...]: ...
        @property
        def max_model_len(self) -> int: ...
        def encode(self, prompts: Any, *args: Any, **kwargs: Any) -> list[Any]: ...
        def _tokenize(
            self, prompts: Any, params: PoolingParams, request: Request, kwargs: Any
        ) -> list[list[int]]: ...
        def _next_id(self) -> str: ...
        def _request(self, task: str, params: PoolingParams) -> Request: ...

    def embed_sparse(
        self,
        prompts: Any,
        *,
        top_k: int | None = None,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: ProgressArg = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[PoolingRequestOutput[SparseEmbeddingOutput]]:
        """SPLADE sparse vectors: ``out.outputs.indices / .values / .tokens`` (largest weight
        first, at most ``top_k``); ``out.outputs.to_dict()`` pairs each weight with its token."""
        if self.model.family not in ("sparse", "bge_m3"):
            msg = (
                f"Model {self.model.name!r} is not a sparse model (SPLADE *ForMaskedLM, or "
                f"BGE-M3); its tasks are {list(self.supported_tasks)}."
            )
            raise ConfigError(msg)
        if top_k is not None and top_k < 1:
            msg = f"top_k must be a positive number of terms, got {top_k}."
            raise ConfigError(msg)
        task = "embed" if self.model.family == "sparse" else "token_classify"
        outputs = self.encode(
            prompts,
            pooling_task=task,
            truncate_prompt_tokens=truncate_prompt_tokens,
            use_tqdm=use_tqdm,
            tokenization_kwargs=tokenization_kwargs,
        )
        tokenizer = self.model.tokenizer
        if task == "embed":
            return [_convert(o, to_sparse(o.outputs.data, tokenizer, top_k)) for o in outputs]
        return [
            _convert(
                o, from_weights(self._lexical(o.prompt_token_ids, o.outputs.data), tokenizer, top_k)
            )
            for o in outputs
        ]

    def embed_hybrid(
        self,
        prompts: Any,
        pooling_params: Params = None,
        *,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: ProgressArg = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[PoolingRequestOutput[HybridEmbeddingOutput]]:
        """The pooled embedding and the token vectors of each prompt from ONE forward pass:
        ``out.outputs.dense / .multi_vector``, plus ``.sparse`` lexical weights for BGE-M3
        (``None`` for other models).

        For an embedding model ``dense`` equals ``embed``'s output and ``multi_vector``
        ``encode(..., pooling_task="token_embed")``'s, with the same ``pooling_params``
        (``dimensions``, ``use_activation``); a hybrid dense + MaxSim index needs no second
        pass. ColBERT models have no pooled embedding: use ``encode_documents``. Chunked
        processing does not apply (token vectors come from one window): an input longer than
        the model needs ``truncate_prompt_tokens``.
        """
        params = one_params(pooling_params, truncate_prompt_tokens)
        if "embed" not in self.supported_tasks or "token_embed" not in self.supported_tasks:
            msg = (
                f"Model {self.model.name!r} cannot give a pooled embedding and token vectors "
                f"together (its tasks are {list(self.supported_tasks)}); embed_hybrid needs "
                "BGE-M3 or an embedding model. For ColBERT models use encode_documents."
            )
            raise ConfigError(msg)
        params.verify("embed")
        request = replace(self._request("embed", params), chunked=False)
        token_ids = self._tokenize(prompts, params, request, tokenization_kwargs)
        forward = lambda ids, _: self.model.hybrid_batch(  # noqa: E731
            ids, request.dimensions, request.activation
        )
        results = self.engine.map_batches(token_ids, forward, use_tqdm)
        tokenizer = self.model.tokenizer
        outputs = []
        for ids, (dense, weights, vectors) in zip(token_ids, results, strict=True):
            sparse = None
            if weights is not None:
                sparse = from_weights(self._lexical(ids, weights), tokenizer, None)
            hybrid = HybridEmbeddingOutput(dense.tolist(), sparse, vectors)
            outputs.append(PoolingRequestOutput(self._next_id(), hybrid, ids))
        return outputs

    def _lexical(self, token_ids: list[int], weights: torch.Tensor) -> dict[int, float]:
        """BGE-M3 ``{token_id: weight}`` from one input's ids and its ``token_classify``
        weights (which skip the BOS / EOS positions)."""
        heads = self.model.m3
        assert heads is not None
        kept = token_ids[heads.weight_span(token_ids)]
        return lexical_weights(kept, weights, unused_token_ids(self.model.tokenizer))

    def encode_queries(self, queries: Any, *, use_tqdm: ProgressArg = True) -> list[torch.Tensor]:
        """Multi-vector query embeddings, one ``(q_tokens, d)`` tensor per query: ColBERT
        models add their query marker and [MASK] expansion, ColQwen3 models their query
        prompt; other token-embedding models return their normalized token states."""
        return self._encode_side(queries, True, use_tqdm)

    def encode_documents(
        self, documents: Any, *, use_tqdm: ProgressArg = True
    ) -> list[torch.Tensor]:
        """Multi-vector document embeddings, one ``(d_tokens, d)`` tensor per document
        (ColBERT: document marker added, punctuation skiplist removed; truncated to the
        model's document length). ColQwen3 models also take images and content parts."""
        return self._encode_side(documents, False, use_tqdm)

    def _encode_side(self, texts: Any, is_query: bool, use_tqdm: ProgressArg) -> list[torch.Tensor]:
        if isinstance(self.model, ColQwenModel):
            return [v for v, _ in self.embed_items(self.side_items(texts, is_query))]
        settings = self.model.colbert
        if settings is None:
            outputs = self.encode(
                texts, pooling_task="token_embed", use_tqdm=use_tqdm, truncate_prompt_tokens=-1
            )
            return [o.outputs.data for o in outputs]
        budget = colbert.text_budget(settings, is_query, self.max_model_len)
        prompts = colbert.with_prompt(normalize_prompts(texts), settings, is_query)
        token_ids = tokenize(self.model.tokenizer, prompts, Truncation(budget, "right"), budget)
        forward = lambda ids, _: self.model.marked_batch(ids, is_query)  # noqa: E731
        return self.engine.map_batches(token_ids, forward, use_tqdm)

    # -- images and content parts (ColQwen3-style models) ------------------------------------
    def side_items(self, values: Any, is_query: bool) -> list[VisionItem]:
        """Items with the model's query or document prompt around plain texts."""
        model = self.model
        items = parse_items(values, "queries" if is_query else "documents")
        if not isinstance(model, ColQwenModel):
            return items
        return [side_item(i, model.format, is_query) for i in items]

    def embed_items(
        self, items: list[VisionItem], request: Request | None = None
    ) -> list[tuple[torch.Tensor, list[int]]]:
        """``(n_tokens, d)`` vectors and prompt token ids (image patches expanded) per item."""
        model = self.model
        if not isinstance(model, ColQwenModel):
            msg = (
                f"Model {model.name!r} takes text only; images and content parts need a "
                "ColQwen3-style model (ColQwen3, OpsColQwen3Model, Qwen3VLNemotronEmbedModel)."
            )
            raise ConfigError(msg)
        prepared = [
            model.processor.prepare(item, f"input {i}", self.max_model_len)
            for i, item in enumerate(items)
        ]
        dims = request.dimensions if request is not None else None
        normalize = request.activation if request is not None else True
        vectors = model.embed_prepared(
            prepared, self.engine.max_tokens, self.engine.max_seqs, dims, normalize
        )
        return [(v, p.token_ids) for v, p in zip(vectors, prepared, strict=True)]

    def _encode_items(
        self, prompts: Any, request: Request
    ) -> list[PoolingRequestOutput[PoolingOutput]]:
        results = self.embed_items(parse_items(prompts), request)
        return [PoolingRequestOutput(self._next_id(), PoolingOutput(v), i) for v, i in results]

    def _score_items(self, data_1: Any, data_2: Any) -> list[float]:
        """MaxSim of ``(data_1, data_2)`` pairs (1:1, 1:N or N:N) of text / image items."""
        firsts = parse_items(data_1, "data_1")
        seconds = parse_items(data_2, "data_2")
        if len(firsts) == 1:
            pairs = [(0, j) for j in range(len(seconds))]
        elif len(firsts) == len(seconds):
            pairs = [(i, i) for i in range(len(firsts))]
        else:
            msg = (
                f"Input lengths must be either 1:1, 1:N or N:N (got {len(firsts)}:{len(seconds)})."
            )
            raise ConfigError(msg)
        return scoring.maxsim_scores(pairs, self._vectors_of(firsts), self._vectors_of(seconds))

    def _vectors_of(self, items: list[VisionItem]) -> Callable[[list[int]], list[torch.Tensor]]:
        return lambda indices: [v for v, _ in self.embed_items([items[i] for i in indices])]


def _convert(output: PoolingRequestOutput[PoolingOutput], outputs: Any) -> Any:
    return PoolingRequestOutput(output.request_id, outputs, output.prompt_token_ids)
