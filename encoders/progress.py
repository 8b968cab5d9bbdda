"""Progress bars that stay out of the way: stderr, off for a handful of prompts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Below this many prompts a bar is noise.
MIN_PROMPTS_FOR_BAR = 64


class _NoBar:
    def update(self, n: int) -> None:
        """Nothing to show."""


@contextmanager
def progress_bar(use_tqdm: bool | Callable[..., Any], total: int) -> Iterator[Any]:
    """A tqdm bar (or the caller's tqdm-like class) when asked for and worth showing."""
    if not use_tqdm or total < MIN_PROMPTS_FOR_BAR:
        yield _NoBar()
        return
    if callable(use_tqdm) and not isinstance(use_tqdm, bool):
        factory = use_tqdm
    else:
        from tqdm.auto import tqdm

        factory = tqdm
    bar = factory(total=total, desc="Processed prompts", unit="prompt", dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
