"""Dynamic micro-batching: concurrent requests to one model share forward passes.

Each served model owns one worker thread (the model and its tokenizer are not shared between
threads) and a bounded queue. While one batch runs, new requests queue up; the next batch takes
the oldest request plus every queued request with the same batching key (same task and
parameters) until the token budget is spent, runs them as ONE ``LLM`` call and splits the
outputs back. A full queue answers 503 + ``Retry-After`` at once instead of letting latency
grow without bound; a request past its deadline is cancelled with 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from adapters.server.config import ServerConfig
from adapters.server.errors import Overloaded, RequestTimedOut
from adapters.server.metrics import Metrics

logger = logging.getLogger(__name__)

BatchFn = Callable[[list[Any]], list[Any]]
"""Runs a list of prompts (one request's, or several merged) -> one result per prompt."""


@dataclass(eq=False)
class Job:
    """One request's work: either mergeable ``prompts`` run by ``run`` under ``key``, or (key
    None) an opaque call ``run([])`` whose single result is the request's answer."""

    key: Hashable | None
    prompts: list[Any]
    tokens: int
    run: BatchFn
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ModelWorker:
    """The queue and batch loop of one served model."""

    def __init__(self, name: str, config: ServerConfig, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self._pending: deque[Job] = deque()
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def depth(self) -> int:
        return len(self._pending)

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` alone on the model thread, queued fairly with batched work."""
        return await self.submit(Job(None, [], 0, lambda _: [fn()]))

    async def submit(self, job: Job) -> Any:
        """Queue ``job`` and wait for its result (a list, one item per prompt)."""
        self._ensure_running()
        if self._closing:
            raise Overloaded(self.depth, self.config.retry_after_s)
        if len(self._pending) >= self.config.max_queue_size:
            self.metrics.rejected.labels(self.name).inc()
            raise Overloaded(len(self._pending), self.config.retry_after_s)
        self._pending.append(job)
        self.metrics.queue_depth.labels(self.name).set(len(self._pending))
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            result = await asyncio.wait_for(
                asyncio.shield(job.future), self.config.request_timeout_s
            )
        except asyncio.TimeoutError:
            job.future.cancel()  # a queued job is then skipped; a running one is discarded
            raise RequestTimedOut(self.config.request_timeout_s) from None
        return result[0] if job.key is None else result

    async def close(self) -> None:
        """Finish queued work, then stop the loop and the model thread."""
        self._closing = True
        if self._task is not None and self._loop is asyncio.get_running_loop():
            deadline = time.monotonic() + self.config.request_timeout_s
            while self._pending and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._executor = None

    # -- the loop ---------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and self._loop is loop and not self._task.done():
            return
        # First use, a restart after close(), or a new event loop: start a fresh loop task.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="model-worker")
            self._closing = False
        self._loop = loop
        self._wakeup = asyncio.Event()
        self._task = loop.create_task(self._run_forever())

    async def _run_forever(self) -> None:
        assert self._wakeup is not None
        assert self._loop is not None
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = self._take_batch()
            self.metrics.queue_depth.labels(self.name).set(len(self._pending))
            if not batch:
                continue
            try:
                outcomes = await self._loop.run_in_executor(self._executor, self._execute, batch)
            except Exception as exc:  # never leave callers waiting on a broken batch
                logger.exception("micro-batch failed outside the model call")
                outcomes = [(False, exc)] * len(batch)
            for job, (ok, value) in zip(batch, outcomes, strict=True):
                if job.future.done():
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)

    def _take_batch(self) -> list[Job]:
        """The oldest live job plus queued jobs with its key, within the token budget."""
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()
        if not self._pending:
            return []
        first = self._pending.popleft()
        batch = [first]
        if first.key is None:
            return batch
        tokens = first.tokens
        kept: deque[Job] = deque()
        while self._pending:
            job = self._pending.popleft()
            fits = (
                job.key == first.key
                and tokens + job.tokens <= self.config.max_batch_tokens
                and len(batch) < self.config.max_batch_requests
            )
            if job.future.done():
                continue
            if fits:
                batch.append(job)
                tokens += job.tokens
            else:
                kept.append(job)
        self._pending = kept
        return batch

    def _execute(self, batch: list[Job]) -> list[tuple[bool, Any]]:
        """Runs on the model thread. A merged batch that fails is re-run request by request,
        so one bad request reports its own error and never fails its neighbours."""
        self.metrics.batch_requests.labels(self.name).observe(len(batch))
        self.metrics.batch_tokens.labels(self.name).observe(sum(j.tokens for j in batch))
        if len(batch) == 1:
            return [_attempt(batch[0].run, batch[0].prompts)]
        merged = [p for job in batch for p in job.prompts]
        ok, value = _attempt(batch[0].run, merged)
        if not ok:
            return [_attempt(job.run, job.prompts) for job in batch]
        outcomes: list[tuple[bool, Any]] = []
        start = 0
        for job in batch:
            outcomes.append((True, value[start : start + len(job.prompts)]))
            start += len(job.prompts)
        return outcomes


def _attempt(run: BatchFn, prompts: list[Any]) -> tuple[bool, Any]:
    try:
        return True, run(prompts)
    except Exception as exc:  # handed to the request's future; the worker keeps serving
        return False, exc
