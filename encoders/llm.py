"""``LLM``: vLLM's offline pooling API on plain PyTorch + transformers.

from encoders import LLM
llm = LLM(model="sentence-transformers/all-MiniLM-L6-v2", runner="pooling")
(output,) = llm.embed("Hello, my name is")
embeds = output.outputs.embedding
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from encoders.batching import plan_batches
from encoders.config import (
    CONVERTS,
    POOLING_TASKS,
    RUNNERS,
    TRUNCATION_SIDES,
    PoolerConfig,
    check_choice,
)
from encoders.inputs import normalize_prompts, resolve_truncation, tokenize
from encoders.loading import HfOverrides
from encoders.model import PoolingModel
from encoders.outputs import (
    EmbeddingOutput,
    EmbeddingRequestOutput,
    PoolingOutput,
    PoolingRequestOutput,
)
from encoders.params import PoolingParams
from encoders.progress import progress_bar
from encoders.resolve import DEFAULT_MODEL, resolve_model
from retrieval.device import resolve_device, resolve_dtype
from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)

# vLLM engine arguments that only tune its GPU scheduler; accepted so scripts run unchanged.
_IGNORED_ENGINE_ARGS = frozenset(
    {
        "gpu_memory_utilization", "enforce_eager", "tensor_parallel_size", "swap_space",
        "disable_log_stats", "enable_prefix_caching", "max_num_batched_tokens_per_step",
        "block_size", "kv_cache_dtype", "compilation_config", "disable_custom_all_reduce",
        "task", "seed",
    }
)  # fmt: skip
_CLASSIFY_SUFFIXES = ("ForSequenceClassification", "ClassificationModel")
_EMBED_TASKS = ("embed", "token_embed")


class LLM:
    """A pooling model for offline inference, with vLLM's constructor and methods.

    ``model`` is a local folder, a Hugging Face repo id (resolved offline first) or a model
    shipped in an installed package. ``device`` is ``auto | cpu | cuda | cuda:N``.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        runner: str = "auto",
        convert: str = "auto",
        pooler_config: PoolerConfig | dict[str, Any] | None = None,
        hf_overrides: HfOverrides = None,
        trust_remote_code: bool = False,
        dtype: str | torch.dtype = "auto",
        max_model_len: int | None = None,
        device: str | torch.device = "auto",
        revision: str | None = None,
        max_num_batched_tokens: int | None = None,
        max_num_seqs: int = 256,
        truncation_side: str | None = None,
        allow_pickle_weights: bool = False,
        **engine_args: Any,
    ) -> None:
        unknown = sorted(set(engine_args) - _IGNORED_ENGINE_ARGS)
        if unknown:
            msg = f"LLM() got unexpected keyword arguments {unknown}."
            raise TypeError(msg)
        check_choice(
            "runner", runner, RUNNERS, 'This toolkit runs pooling models: runner="pooling".'
        )
        if runner == "generate":
            msg = 'runner="generate" is not supported: this toolkit runs pooling models only.'
            raise ConfigError(msg)
        check_choice("convert", convert, CONVERTS, 'Use convert="auto" or "embed".')
        self.device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, self.device)
        self.model = PoolingModel(
            resolve_model(model, revision),
            pooler_config=PoolerConfig.from_value(pooler_config),
            hf_overrides=hf_overrides,
            trust_remote_code=trust_remote_code,
            dtype=torch_dtype,
            device=self.device,
            max_model_len=max_model_len,
            allow_pickle_weights=allow_pickle_weights,
        )
        self._check_convert(convert)
        side = str(truncation_side or getattr(self.model.tokenizer, "truncation_side", "right"))
        self.truncation_side = check_choice(
            "truncation side", side, TRUNCATION_SIDES, 'Use "left" or "right".'
        )
        default_budget = 65536 if self.device.type == "cuda" else 8192
        self.max_num_batched_tokens = max(
            max_num_batched_tokens or default_budget, self.model.max_model_len
        )
        self.max_num_seqs = max_num_seqs
        self._request_counter = 0

    def _check_convert(self, convert: str) -> None:
        architectures = getattr(self.model.hf_config, "architectures", None) or []
        is_classifier = any(a.endswith(_CLASSIFY_SUFFIXES) for a in architectures)
        if convert == "classify" or (convert == "auto" and is_classifier):
            msg = (
                f"Model {self.model.name!r} ({architectures}) converts to the classify task, "
                "which this version does not run yet. Pass convert='embed' to use it as an "
                "embedding model."
            )
            raise ConfigError(msg)

    # -- introspection ------------------------------------------------------------------------
    @property
    def supported_tasks(self) -> tuple[str, ...]:
        """The pooling tasks this model serves (vLLM's ``Pooler.get_supported_tasks``)."""
        return _EMBED_TASKS

    def get_tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def max_model_len(self) -> int:
        return self.model.max_model_len

    # -- public API ---------------------------------------------------------------------------
    def embed(
        self,
        prompts: Any,
        pooling_params: PoolingParams | Sequence[PoolingParams] | None = None,
        *,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: bool | Callable[..., Any] = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[EmbeddingRequestOutput]:
        """One embedding per prompt: ``out.outputs.embedding`` is a list of floats."""
        outputs = self.encode(
            prompts,
            pooling_params,
            pooling_task="embed",
            truncate_prompt_tokens=truncate_prompt_tokens,
            use_tqdm=use_tqdm,
            tokenization_kwargs=tokenization_kwargs,
        )
        return [
            PoolingRequestOutput(
                o.request_id, EmbeddingOutput.from_base(o.outputs), o.prompt_token_ids
            )
            for o in outputs
        ]

    def encode(
        self,
        prompts: Any,
        pooling_params: PoolingParams | Sequence[PoolingParams] | None = None,
        *,
        pooling_task: str | None = None,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: bool | Callable[..., Any] = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[PoolingRequestOutput[PoolingOutput]]:
        """Pooled tensors per prompt: ``out.outputs.data`` is ``(d,)`` for ``embed`` and
        ``(n_tokens, d)`` for ``token_embed``."""
        task = self._check_task(pooling_task)
        items = normalize_prompts(prompts)
        params = _one_params(pooling_params, truncate_prompt_tokens)
        params.verify(task)
        dimensions, normalize = self._merge_params(params)
        truncation = resolve_truncation(
            params.truncate_prompt_tokens, self.max_model_len, self._side(tokenization_kwargs)
        )
        token_ids = tokenize(
            self.model.tokenizer, items, truncation, self.max_model_len, self.model.lower_case
        )
        data = self._run(token_ids, task, dimensions, normalize, use_tqdm)
        return [
            PoolingRequestOutput(self._next_id(), PoolingOutput(d), ids)
            for d, ids in zip(data, token_ids, strict=True)
        ]

    # -- internals ----------------------------------------------------------------------------
    def _check_task(self, task: str | None) -> str:
        if task is None:
            msg = (
                "pooling_task is required for LLM.encode. Use LLM.embed(...) or set "
                f"pooling_task to one of {list(self.supported_tasks)}."
            )
            raise ConfigError(msg)
        check_choice("pooling task", task, POOLING_TASKS, "")
        if task not in self.supported_tasks:
            msg = (
                f"Model {self.model.name!r} does not support pooling task {task!r}. "
                f"Supported tasks: {list(self.supported_tasks)}."
            )
            raise ConfigError(msg)
        return task

    def _side(self, tokenization_kwargs: dict[str, Any] | None) -> str:
        side = (tokenization_kwargs or {}).get("truncation_side", self.truncation_side)
        return check_choice("truncation side", side, TRUNCATION_SIDES, 'Use "left" or "right".')

    def _merge_params(self, params: PoolingParams) -> tuple[int | None, bool]:
        dimensions = params.dimensions if params.dimensions is not None else None
        if dimensions is not None:
            self._check_matryoshka(dimensions)
        else:
            dimensions = self.model.settings.dimensions
        activation = params.activation
        normalize = self.model.settings.normalize if activation is None else activation
        return dimensions, normalize

    def _check_matryoshka(self, dimensions: int) -> None:
        name = self.model.name
        if not self.model.is_matryoshka:
            msg = (
                f'Model "{name}" does not support matryoshka representation, changing output '
                "dimensions will lead to poor results."
            )
            raise ConfigError(msg)
        if dimensions < 1:
            msg = f"Dimensions must be greater than 0, got {dimensions}."
            raise ConfigError(msg)
        allowed = self.model.matryoshka_dimensions
        if allowed is not None and dimensions not in allowed:
            msg = (
                f'Model "{name}" only supports {allowed} matryoshka dimensions, use other '
                "output dimensions will lead to poor results."
            )
            raise ConfigError(msg)
        if dimensions > self.model.embedding_size:
            msg = (
                f"Dimensions {dimensions} exceed the embedding size "
                f'{self.model.embedding_size} of model "{name}".'
            )
            raise ConfigError(msg)

    def _run(
        self,
        token_ids: list[list[int]],
        task: str,
        dimensions: int | None,
        normalize: bool,
        use_tqdm: bool | Callable[..., Any],
    ) -> list[torch.Tensor]:
        forward = self.model.embed_batch if task == "embed" else self.model.token_embed_batch
        batches = plan_batches(
            [len(t) for t in token_ids], self.max_num_batched_tokens, self.max_num_seqs
        )
        results: list[torch.Tensor | None] = [None] * len(token_ids)
        with progress_bar(use_tqdm, total=len(token_ids)) as bar:
            for batch in batches:
                outputs = forward([token_ids[i] for i in batch], dimensions, normalize)
                for index, output in zip(batch, outputs, strict=True):
                    results[index] = output
                bar.update(len(batch))
        return [r for r in results if r is not None]

    def _next_id(self) -> str:
        self._request_counter += 1
        return str(self._request_counter - 1)


def _one_params(
    pooling_params: PoolingParams | Sequence[PoolingParams] | None,
    truncate_prompt_tokens: int | None,
) -> PoolingParams:
    if pooling_params is None:
        params = PoolingParams()
    elif isinstance(pooling_params, PoolingParams):
        params = PoolingParams(**vars(pooling_params))
    else:
        distinct = {repr(p) for p in pooling_params}
        if len(distinct) != 1:
            msg = "Per-prompt pooling_params must currently all be equal; pass one PoolingParams."
            raise ConfigError(msg)
        params = PoolingParams(**vars(pooling_params[0]))
    if truncate_prompt_tokens is not None:
        params.truncate_prompt_tokens = truncate_prompt_tokens
    return params
