"""``LLM``: vLLM's offline pooling API on plain PyTorch + transformers.

from encoders import LLM
llm = LLM(model="sentence-transformers/all-MiniLM-L6-v2", runner="pooling")
(output,) = llm.embed("Hello, my name is")
embeds = output.outputs.embedding
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from encoders import classify, scoring
from encoders.architectures import supported_tasks
from encoders.config import (
    CONVERTS,
    POOLING_TASKS,
    RUNNERS,
    TRUNCATION_SIDES,
    PoolerConfig,
    check_choice,
)
from encoders.engine import Engine, ProgressArg, Request
from encoders.inputs import (
    cut_documents,
    normalize_prompts,
    resolve_truncation,
    score_pairs,
    tokenize,
    tokenize_pairs,
)
from encoders.int8 import check_int8_device, wants_int8
from encoders.llm_multivector import MultiVectorMethods
from encoders.loading import HfOverrides
from encoders.matryoshka import check_dimensions
from encoders.model import PoolingModel
from encoders.outputs import (
    ClassificationOutput,
    ClassificationRequestOutput,
    EmbeddingOutput,
    EmbeddingRequestOutput,
    PoolingOutput,
    PoolingRequestOutput,
    ScoringOutput,
    ScoringRequestOutput,
)
from encoders.params import (
    Params,
    PoolingParams,
    check_params_count,
    one_params,
    truncation_from,
)
from encoders.plugins import load_plugin
from encoders.resolve import DEFAULT_MODEL, resolve_model
from encoders.vision.colqwen import ColQwenModel, detect_format
from encoders.vision.images import ImagePolicy
from encoders.vision.items import has_images
from retrieval.device import resolve_device, resolve_dtype
from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)

# vLLM engine arguments that only tune its GPU scheduler; accepted so scripts run unchanged.
_IGNORED_ENGINE_ARGS = frozenset(
    {
        "gpu_memory_utilization", "enforce_eager", "tensor_parallel_size", "swap_space",
        "disable_log_stats", "enable_prefix_caching", "block_size", "kv_cache_dtype",
        "compilation_config", "disable_custom_all_reduce", "task", "seed",
    }
)  # fmt: skip


# vLLM's opening sentences for a task the model lacks (users and vLLM's tests match them).
_UNSUPPORTED = {
    "embed": "Embedding API is not supported by this model.",
    "token_embed": "Embedding API is not supported by this model.",
    "classify": "Classification API is not supported by this model.",
    "token_classify": "Classification API is not supported by this model.",
    "score": "Score API is not supported by this model.",
    "plugin": "No IOProcessor plugin installed.",
}


class LLM(MultiVectorMethods):
    """A pooling model for offline inference, with vLLM's constructor and methods.

    ``model`` is a local folder, a Hugging Face repo id (resolved offline first) or a model
    shipped in an installed package. ``device`` is ``auto | cpu | cuda | cuda:N``.
    Image inputs (ColQwen3-style models): ``http(s)`` URLs are refused unless
    ``allow_remote_images=True``; ``image_limits`` overrides ``ImagePolicy`` caps
    (``max_bytes``, ``max_pixels``, ``timeout_s``).
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
        io_processor_plugin: str | None = None,
        allow_pickle_weights: bool = False,
        allow_remote_images: bool = False,
        image_limits: dict[str, Any] | None = None,
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
        check_choice("convert", convert, CONVERTS, 'Use "auto", "embed" or "classify".')
        self.device = resolve_device(device)
        int8 = wants_int8(dtype)
        if int8:
            check_int8_device(self.device)
        self.pooler_config = PoolerConfig.from_value(pooler_config)
        resolved = resolve_model(model, revision)
        model_class = ColQwenModel if detect_format(resolved.path, hf_overrides) else PoolingModel
        if int8 and model_class is ColQwenModel:
            msg = (
                "dtype='int8' covers text encoder models; this ColQwen3 (vision-language) model "
                "runs in float32 on the CPU or float16 / bfloat16 on a GPU."
            )
            raise ConfigError(msg)
        extra = {"int8": True} if int8 else {}
        self.model = model_class(
            resolved,
            pooler_config=self.pooler_config,
            hf_overrides=hf_overrides,
            trust_remote_code=trust_remote_code,
            dtype=resolve_dtype("float32" if int8 else dtype, self.device),
            device=self.device,
            max_model_len=max_model_len,
            allow_pickle_weights=allow_pickle_weights,
            convert=convert,
            **extra,
        )
        if isinstance(self.model, ColQwenModel):
            limits = {**(image_limits or {}), "allow_remote": allow_remote_images}
            self.model.processor.policy = ImagePolicy(**limits)
        side = str(truncation_side or getattr(self.model.tokenizer, "truncation_side", "right"))
        self.truncation_side = check_choice(
            "truncation side", side, TRUNCATION_SIDES, 'Use "left" or "right".'
        )
        default_budget = 65536 if self.device.type == "cuda" else 8192
        budget = max(max_num_batched_tokens or default_budget, self.model.max_model_len)
        self.engine = Engine(self.model, budget, max_num_seqs)
        if self.model.family != "embed":
            self.engine.activation_name = classify.classify_activation(self.model)
            self.engine.score_activation_name = classify.resolve_activation(self.model)
        if io_processor_plugin is not None:
            self.engine.plugin = load_plugin(io_processor_plugin, self.model)
        self._request_counter = 0

    # -- introspection ------------------------------------------------------------------------
    @property
    def supported_tasks(self) -> tuple[str, ...]:
        """The pooling tasks this model serves (vLLM's ``Pooler.get_supported_tasks``)."""
        per_token = classify.token_head(self.model) is not None
        tasks = supported_tasks(self.model.family, per_token)
        return (*tasks, "plugin") if self.engine.plugin is not None else tasks

    @property
    def id2label(self) -> dict[int, str]:
        """Class index -> label name of a classifier (from its config)."""
        labels = getattr(self.model.hf_config, "id2label", None) or {}
        return {int(k): str(v) for k, v in labels.items()}

    def get_tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def max_model_len(self) -> int:
        return self.model.max_model_len

    # -- public API ---------------------------------------------------------------------------
    def embed(
        self,
        prompts: Any,
        pooling_params: Params = None,
        *,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: ProgressArg = True,
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
            EmbeddingRequestOutput(
                o.request_id, EmbeddingOutput.from_base(o.outputs), o.prompt_token_ids
            )
            for o in outputs
        ]

    @property
    def vocab_size(self) -> int:
        return int(getattr(self.model.hf_config, "vocab_size", 0) or len(self.model.tokenizer))

    def classify(
        self,
        prompts: Any,
        pooling_params: Params = None,
        *,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: ProgressArg = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[ClassificationRequestOutput]:
        """Class probabilities per prompt: ``out.outputs.probs``."""
        outputs = self.encode(
            prompts,
            pooling_params,
            pooling_task="classify",
            truncate_prompt_tokens=truncate_prompt_tokens,
            use_tqdm=use_tqdm,
            tokenization_kwargs=tokenization_kwargs,
        )
        return [
            ClassificationRequestOutput(
                o.request_id, ClassificationOutput.from_base(o.outputs), o.prompt_token_ids
            )
            for o in outputs
        ]

    def reward(
        self,
        prompts: Any,
        pooling_params: Params = None,
        *,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: ProgressArg = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[PoolingRequestOutput[PoolingOutput]]:
        """Per-token rewards (the ``token_classify`` task): ``out.outputs.data``."""
        return self.encode(
            prompts,
            pooling_params,
            pooling_task="token_classify",
            truncate_prompt_tokens=truncate_prompt_tokens,
            use_tqdm=use_tqdm,
            tokenization_kwargs=tokenization_kwargs,
        )

    def score(
        self,
        data_1: Any,
        data_2: Any,
        /,
        *,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: ProgressArg = True,
        pooling_params: PoolingParams | None = None,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[ScoringRequestOutput]:
        """Scores of ``(data_1, data_2)`` pairs (1:1, 1:N or N:N): cross-encoders read each
        pair jointly; embedding models return the cosine of the two embeddings."""
        if isinstance(self.model, ColQwenModel):
            return [self._scored(score, []) for score in self._score_items(data_1, data_2)]
        pairs = score_pairs(data_1, data_2)
        truncate_prompt_tokens = truncation_from(truncate_prompt_tokens, tokenization_kwargs)
        params = one_params(pooling_params, truncate_prompt_tokens)
        pairs = cut_documents(self.model.tokenizer, pairs, params.max_tokens_per_doc())
        if self.model.colbert is not None:
            maxsim = scoring.maxsim_scores(
                pairs,
                lambda q: self.encode_queries(q, use_tqdm=use_tqdm),
                lambda d: self.encode_documents(d, use_tqdm=use_tqdm),
                mean=self.model.colbert.mean_maxsim,
            )
            return [self._scored(score, []) for score in maxsim]
        if "score" not in self.supported_tasks:
            if "embed" not in self.supported_tasks:
                self._check_task("score")
            embed_params = PoolingParams(truncate_prompt_tokens=params.truncate_prompt_tokens)
            cosine = scoring.cosine_scores(
                pairs,
                lambda texts: self.encode(
                    texts, embed_params, pooling_task="embed", use_tqdm=use_tqdm,
                    tokenization_kwargs=tokenization_kwargs,
                ),
            )  # fmt: skip
            return [self._scored(score, ids) for score, ids in cosine]
        params.verify("score")
        truncation = resolve_truncation(
            params.truncate_prompt_tokens, self.max_model_len, self._side(tokenization_kwargs)
        )
        ids, types = tokenize_pairs(
            self.model.tokenizer, pairs, truncation, self.max_model_len, self.model.lower_case
        )
        activation = params.effective_activation()
        request = Request("score", activation=self._activation(activation))
        data = self.engine.run(ids, request, use_tqdm, types)
        scores = [ScoringOutput.from_base(PoolingOutput(d)).score for d in data]
        return [self._scored(score, i) for score, i in zip(scores, ids, strict=True)]

    def encode(
        self,
        prompts: Any,
        pooling_params: Params = None,
        *,
        pooling_task: str | None = None,
        truncate_prompt_tokens: int | None = None,
        use_tqdm: ProgressArg = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[PoolingRequestOutput[PoolingOutput]]:
        """Pooled tensors per prompt (``out.outputs.data``): ``(d,)`` for ``embed``,
        ``(n_tokens, d)`` for ``token_embed``, ``(n_labels,)`` for ``classify``,
        ``(n_tokens, n_labels)`` for ``token_classify``, the plugin's tensor for ``plugin``."""
        task = self._check_task(pooling_task)
        truncate_prompt_tokens = truncation_from(truncate_prompt_tokens, tokenization_kwargs)
        params = one_params(pooling_params, truncate_prompt_tokens)
        params.verify(task)
        request = self._request(task, params)
        if isinstance(self.model, ColQwenModel) and has_images(prompts):
            return self._encode_items(prompts, request)
        token_ids = self._tokenize(prompts, params, request, tokenization_kwargs)
        check_params_count(pooling_params, len(token_ids))
        data = self.engine.run(token_ids, request, use_tqdm)
        return [
            PoolingRequestOutput(self._next_id(), PoolingOutput(d), ids)
            for d, ids in zip(data, token_ids, strict=True)
        ]

    # -- internals ----------------------------------------------------------------------------
    def _check_task(self, task: str | None) -> str:
        if task is None:
            msg = (
                "pooling_task is required for LLM.encode. Use LLM.embed / classify / score / "
                f"reward, or set pooling_task to one of {list(self.supported_tasks)}."
            )
            raise ConfigError(msg)
        check_choice("pooling task", task, POOLING_TASKS, "")
        if task not in self.supported_tasks:
            msg = (
                f"{_UNSUPPORTED[task]} Model {self.model.name!r} does not support pooling task "
                f"{task!r}. Supported tasks: {list(self.supported_tasks)}."
            )
            raise ConfigError(msg)
        return task

    def _request(self, task: str, params: PoolingParams) -> Request:
        activation = params.effective_activation()
        if task in ("embed", "token_embed"):
            dimensions = params.dimensions
            if dimensions is not None:
                check_dimensions(self.model, dimensions)
            else:
                dimensions = self.model.settings.dimensions
            normalize = self.model.settings.normalize if activation is None else activation
            chunked = task == "embed" and self.pooler_config.enable_chunked_processing
            return Request(task, dimensions, normalize, chunked)
        return Request(task, activation=self._activation(activation))

    def _activation(self, requested: bool | None) -> bool:
        """Classify / score / token_classify: the request's choice, else pooler_config's
        ``use_activation``, else on (vLLM's order)."""
        if requested is not None:
            return requested
        default = self.pooler_config.activation
        return True if default is None else default

    def _tokenize(
        self,
        prompts: Any,
        params: PoolingParams,
        request: Request,
        tokenization_kwargs: dict[str, Any] | None,
    ) -> list[list[int]]:
        items = normalize_prompts(prompts)
        truncation = resolve_truncation(
            params.truncate_prompt_tokens, self.max_model_len, self._side(tokenization_kwargs)
        )
        chunked = request.chunked and truncation.max_tokens is None
        limit: int | None = self.max_model_len
        cap = self.pooler_config.max_embed_len if request.task == "embed" else None
        if chunked:
            limit = cap
        elif cap is not None and truncation.max_tokens is None:
            # As vLLM: max_embed_len caps embed inputs with or without chunked processing.
            limit = min(self.max_model_len, cap)
        return tokenize(
            self.model.tokenizer, items, truncation, limit, self.model.lower_case, chunked=chunked
        )

    def _scored(self, score: float, token_ids: list[int]) -> ScoringRequestOutput:
        return ScoringRequestOutput(self._next_id(), ScoringOutput(score), token_ids)

    def _side(self, tokenization_kwargs: dict[str, Any] | None) -> str:
        side = (tokenization_kwargs or {}).get("truncation_side", self.truncation_side)
        return check_choice("truncation side", side, TRUNCATION_SIDES, 'Use "left" or "right".')

    def _next_id(self) -> str:
        self._request_counter += 1
        return str(self._request_counter - 1)
