"""Run tokenized inputs through a model in length-sorted, token-budgeted batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from encoders.batching import plan_batches
from encoders.model import PoolingModel
from encoders.plugins import PoolerPlugin
from encoders.progress import progress_bar

ProgressArg = bool | Callable[..., Any]


@dataclass(frozen=True)
class Request:
    """What to compute for a list of tokenized inputs."""

    task: str
    dimensions: int | None = None
    activation: bool = True
    """Embed tasks: L2-normalize. Classification tasks: apply the model's activation."""
    chunked: bool = False
    """Embed only: split over-long inputs into model-length chunks (vLLM's chunked processing)."""


class Engine:
    """Batches work for one ``PoolingModel`` (single-threaded, one call at a time)."""

    def __init__(self, model: PoolingModel, max_tokens: int, max_seqs: int) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.max_seqs = max_seqs
        self.plugin: PoolerPlugin | None = None
        self.activation_name = "Identity"
        """The ``classify`` / ``token_classify`` activation (``Sigmoid``, ``Softmax``, ...)."""
        self.score_activation_name = "Identity"
        """The ``score`` activation (a cross-encoder's own setting when it has one)."""

    def run(
        self,
        token_ids: list[list[int]],
        request: Request,
        use_tqdm: ProgressArg,
        type_ids: list[list[int]] | None = None,
    ) -> list[torch.Tensor]:
        """One output tensor per input, in input order."""
        if request.task == "embed":
            return self._embed(token_ids, request, use_tqdm)
        forward = self._forward(request)
        return self.map_batches(token_ids, forward, use_tqdm, type_ids)

    def _forward(self, request: Request) -> Callable[..., list[torch.Tensor]]:
        model = self.model
        name = self.score_activation_name if request.task == "score" else self.activation_name
        activation = name if request.activation else None
        if request.task == "token_embed":
            return lambda ids, _: model.token_embed_batch(
                ids, request.dimensions, request.activation
            )
        if request.task in ("classify", "score"):
            return lambda ids, types: model.classify_batch(ids, types, activation)
        if request.task == "token_classify":
            return lambda ids, _: model.token_classify_batch(ids, activation)
        plugin = self.plugin
        if request.task == "plugin" and plugin is not None:
            return lambda ids, _: model.plugin_batch(ids, plugin)
        msg = f"no forward for task {request.task!r}"
        raise AssertionError(msg)

    def map_batches(
        self,
        token_ids: list[list[int]],
        forward: Callable[..., list[Any]],
        use_tqdm: ProgressArg,
        type_ids: list[list[int]] | None = None,
    ) -> list[Any]:
        """``forward(ids, type_ids)`` over token-budgeted batches; results in input order."""
        batches = plan_batches([len(t) for t in token_ids], self.max_tokens, self.max_seqs)
        results: list[Any] = [None] * len(token_ids)
        with progress_bar(use_tqdm, total=len(token_ids)) as bar:
            for batch in batches:
                types = [type_ids[i] for i in batch] if type_ids is not None else None
                outputs = forward([token_ids[i] for i in batch], types)
                for index, output in zip(batch, outputs, strict=True):
                    results[index] = output
                bar.update(len(batch))
        return results

    def _embed(
        self, token_ids: list[list[int]], request: Request, use_tqdm: ProgressArg
    ) -> list[torch.Tensor]:
        """Pool every input (or each of its chunks), average chunks weighted by their token
        counts, then run the head once over all pooled vectors."""
        owners, chunks = self._chunks(token_ids, request.chunked)
        pooled = self.map_batches(chunks, lambda ids, _: list(self.model.pool_batch(ids)), use_tqdm)
        if len(chunks) == len(token_ids):
            stacked = torch.stack(pooled)
        else:
            stacked = _weighted_mean(pooled, owners, [len(c) for c in chunks], len(token_ids))
        return list(
            self.model.apply_head(stacked, request.dimensions, request.activation).unbind(0)
        )

    def _chunks(
        self, token_ids: list[list[int]], chunked: bool
    ) -> tuple[list[int], list[list[int]]]:
        size = self.model.max_model_len
        owners: list[int] = []
        chunks: list[list[int]] = []
        for owner, ids in enumerate(token_ids):
            pieces = [ids[i : i + size] for i in range(0, len(ids), size)] if chunked else [ids]
            owners.extend([owner] * len(pieces))
            chunks.extend(pieces)
        return owners, chunks


def _weighted_mean(
    pooled: list[torch.Tensor], owners: list[int], weights: list[int], count: int
) -> torch.Tensor:
    """Token-weighted mean of chunk vectors per owner: ``(count, h)``."""
    stacked = torch.stack(pooled).float()
    weight = torch.tensor(weights, dtype=torch.float32, device=stacked.device)
    index = torch.tensor(owners, device=stacked.device)
    sums = torch.zeros(count, stacked.shape[1], device=stacked.device).index_add_(
        0, index, stacked * weight[:, None]
    )
    totals = torch.zeros(count, device=stacked.device).index_add_(0, index, weight)
    return (sums / totals[:, None]).to(pooled[0].dtype)
