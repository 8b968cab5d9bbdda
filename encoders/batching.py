"""Length-sorted batches packed by a token budget (padding counted)."""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], max_tokens: int, max_seqs: int) -> list[list[int]]:
    """Group input indices into batches of similar length.

    Longest inputs come first, so a batch that does not fit in memory fails at once rather
    than at the end. A batch holds at most ``max_seqs`` inputs and at most ``max_tokens``
    padded tokens (``len(batch) * longest``); an input longer than the budget gets a batch
    of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        candidate = max(longest, lengths[index])
        if current and (candidate * (len(current) + 1) > max_tokens or len(current) >= max_seqs):
            batches.append(current)
            current, candidate = [], lengths[index]
        current.append(index)
        longest = candidate
    if current:
        batches.append(current)
    return batches
