"""Served models: names, the ``LLM`` runtime, its batch worker and a private tokenizer.

The server tokenizes requests itself (on a copy of the model's tokenizer, so it never races
the model thread) to count tokens for the batch budget, then hands token ids to the model so
nothing is tokenized twice.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.server.batching import Job, ModelWorker
from adapters.server.config import ServerConfig
from adapters.server.errors import APIError, ModelUnknown
from adapters.server.inputs import Prompt, check_token_range
from adapters.server.metrics import Metrics
from retrieval.errors import ConfigError


@dataclass
class ServedModel:
    """One ``encoders.LLM`` under one or more served names."""

    names: list[str]
    llm: Any
    worker: ModelWorker
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.llm.supported_tasks)

    def require(self, task: str, api: str) -> None:
        """400 when the model cannot serve ``task`` (vLLM's wording "The model does not
        support X"; vLLM answers 400 or 501 here, 400 keeps a client's mistake out of 5xx)."""
        if task not in self.tasks:
            raise APIError(
                400,
                f"The model `{self.name}` does not support the {api} (task {task!r}); its "
                f"tasks are {list(self.tasks)}.",
            )

    def check_truncation(self, truncate: int | None) -> None:
        """vLLM's refusal of a truncation longer than the model, word for word (clients
        compare it); ``param`` names the field."""
        if truncate is not None and truncate > self.llm.max_model_len:
            raise APIError(
                400,
                "truncate_prompt_tokens value is greater than max_model_len. "
                "Please request a smaller truncation size.",
                param="truncate_prompt_tokens",
            )

    def prepare(
        self, prompts: list[Prompt], *, add_special_tokens: bool, truncate: int | None
    ) -> tuple[list[Prompt], list[int]]:
        """Prompts to hand the model and their token counts (runs in a worker thread).

        Without truncation, texts become token ids here. With truncation they stay texts so
        the model truncates them exactly as ``LLM`` does (keeping the special tokens); counts
        are then capped at the truncation length.
        """
        texts = [p for p in prompts if isinstance(p, str)]
        lower = bool(getattr(self.llm.model, "lower_case", False))
        encoded: list[list[int]] = []
        if texts:
            with self.lock:
                encoded = self.tokenizer(
                    [t.lower() if lower else t for t in texts],
                    add_special_tokens=add_special_tokens,
                    return_attention_mask=False,
                    return_token_type_ids=False,
                    verbose=False,
                )["input_ids"]
        it = iter(encoded)
        ids = [list(next(it)) if isinstance(p, str) else p for p in prompts]
        check_token_range(ids, int(self.llm.vocab_size), "input")
        if truncate is None or not add_special_tokens:
            return list(ids), [len(x) for x in ids]
        cap = self.llm.max_model_len if truncate == -1 else truncate
        return prompts, [min(len(x), cap) for x in ids]

    async def run_batched(
        self, key: tuple[Any, ...], prompts: list[Prompt], counts: list[int], run: Any
    ) -> list[Any]:
        """Queue mergeable work; ``run(prompts)`` must be a pure function of ``key``."""
        job = Job(key, prompts, sum(counts), run)
        result: list[Any] = await self.worker.submit(job)
        self.worker.metrics.prompt_tokens.labels(self.name).inc(sum(counts))
        return result


class ModelRegistry:
    """The served models; a request's ``model`` picks one (None = the first)."""

    def __init__(self, models: Sequence[ServedModel]) -> None:
        if not models:
            msg = "The server needs at least one model: pass an LLM or (names, LLM) pairs."
            raise ConfigError(msg)
        self.models = list(models)
        self._by_name: dict[str, ServedModel] = {}
        for model in self.models:
            for name in model.names:
                self._by_name.setdefault(name, model)

    def get(self, name: str | None) -> ServedModel:
        if name is None or name == "":
            return self.models[0]
        model = self._by_name.get(name)
        if model is None:
            raise ModelUnknown(name, list(self._by_name))
        return model

    @property
    def names(self) -> list[str]:
        return list(self._by_name)


def serve_model(
    llm: Any, names: Sequence[str], config: ServerConfig, metrics: Metrics
) -> ServedModel:
    """Wrap a loaded ``LLM`` for serving under ``names``."""
    tokenizer = llm.get_tokenizer()
    try:
        private = copy.deepcopy(tokenizer)
    except Exception:  # some tokenizers cannot be copied; share it under the lock then
        private = tokenizer
    worker = ModelWorker(names[0], config, metrics)
    return ServedModel(list(names), llm, worker, private)
