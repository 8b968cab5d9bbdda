"""Pair scores for ``LLM.score`` when the model is not a cross-encoder.

Each distinct text is encoded once, so a 1:N request encodes its query a single time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import torch

Pairs = Sequence[tuple[str, str]]
Key = TypeVar("Key", bound=Hashable)


def cosine_scores(
    pairs: Pairs, embed: Callable[[list[str]], list[Any]]
) -> list[tuple[float, list[int]]]:
    """Bi-encoder: cosine of the two embeddings, with the pair's prompt token ids.

    ``embed`` maps texts to ``encode(..., pooling_task="embed")`` outputs.
    """
    texts = list(dict.fromkeys(t for pair in pairs for t in pair))
    outputs = dict(zip(texts, embed(texts), strict=True))
    scores = []
    for first, second in pairs:
        a, b = outputs[first], outputs[second]
        cosine = torch.nn.functional.cosine_similarity(a.outputs.data, b.outputs.data, dim=0)
        scores.append((float(cosine), a.prompt_token_ids + b.prompt_token_ids))
    return scores


def maxsim_scores(
    pairs: Sequence[tuple[Key, Key]],
    encode_queries: Callable[[list[Key]], list[torch.Tensor]],
    encode_documents: Callable[[list[Key]], list[torch.Tensor]],
    mean: bool = False,
) -> list[float]:
    """Late interaction: sum over query vectors of the best document-vector dot product
    (0 for a document without vectors); ``mean`` divides by the query's vector count
    (MeanMaxSim). Keys are texts, or item indices for image inputs."""
    queries = list(dict.fromkeys(q for q, _ in pairs))
    documents = list(dict.fromkeys(d for _, d in pairs))
    q_vectors = dict(zip(queries, encode_queries(queries), strict=True))
    d_vectors = dict(zip(documents, encode_documents(documents), strict=True))
    scores = []
    for query, document in pairs:
        similarity = q_vectors[query] @ d_vectors[document].T
        score = float(similarity.max(dim=1).values.sum()) if similarity.shape[1] else 0.0
        scores.append(score / max(len(similarity), 1) if mean else score)
    return scores
