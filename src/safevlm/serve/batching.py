"""Dynamic batching: concurrent requests share one ``generate`` call instead of queueing on a lock.

A :class:`Batcher` owns the backend. Requests wait in a bounded list (full: the
server answers 429); each worker task takes the oldest waiting request together
with up to ``max_batch - 1`` others that share its generation parameters and runs
them as one batch in its own thread. When the model was idle and other requests are
still arriving (their bodies being parsed, their images decoded), it first waits up
to ``batch_wait_s`` (a few ms) for them; a lone client never waits. Batched generation of a small model costs little more
than one request (docs/benchmarks.md, "serve").

In that thread, before generating, each prompt is measured against the model's context window: too long is that request's
400, not the batch's. A request whose client left or whose deadline passed before
its batch started is dropped; once started, the batch is stopped (rows cut short,
see :meth:`~safevlm.backends.base.Backend.generate_interruptible`) as soon as every
one of its requests is gone, so an abandoned or runaway request frees the model.

Backends that are not ``thread_safe`` get one worker (one batch at a time); thread
safe ones (remote APIs, mocks) ``workers`` of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from safevlm.backends.base import Backend, Generation, GenerationParams
from safevlm.data.sample import Sample
from safevlm.serve.limits import APIError

log = logging.getLogger(__name__)


def timeout_error() -> APIError:
    """What a request gets when its deadline passes before its answer is complete.

    ``x-should-retry: false``: the official OpenAI client would otherwise retry the 504
    (twice by default), running a request that is too slow for this server three times.
    """
    return APIError(504, "the request did not finish within the server's time limit", kind="timeout",
                    code="timeout", headers={"x-should-retry": "false"})



@dataclass(eq=False)
class Job:
    """One request waiting for (or in) a batch."""

    sample: Sample
    params: GenerationParams
    deadline: float  # time.monotonic()
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)
    started: float | None = None
    batch_size: int = 0
    gone: bool = False  # the client left or the deadline passed: nobody wants the answer

    @property
    def wanted(self) -> bool:
        return not self.gone and not self.future.done() and time.monotonic() < self.deadline


class QueueFull(Exception):
    pass


class Batcher:
    """Collects requests into batches for ``backend``; see the module docstring."""

    def __init__(self, backend: Backend, *, max_batch: int = 8,
                 batch_wait_s: float = 0.005, max_queue: int = 256, workers: int | None = None,
                 on_batch: Callable[[int], None] | None = None):
        self.backend = backend
        self.max_batch, self.batch_wait_s, self.max_queue = max_batch, batch_wait_s, max_queue
        self.workers = 1 if not backend.thread_safe else (workers or 4)
        self.on_batch = on_batch
        self.waiting: list[Job] = []
        self.arriving = 0  # requests being prepared (see :meth:`arrival`), about to be submitted
        self.running = 0
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._pool: ThreadPoolExecutor | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for a batch (not counting those being generated)."""
        return len(self.waiting)

    def _start(self) -> None:
        """Start the workers on the running loop (lazily: the app may be served without a lifespan)."""
        if self._tasks:
            return
        self._wakeup = asyncio.Event()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="safevlm-batch")
        self._tasks = [asyncio.create_task(self._worker(), name=f"safevlm-batch-{k}") for k in range(self.workers)]

    @contextlib.contextmanager
    def arrival(self) -> Iterator[None]:
        """Wrap a request's preparation, so an idle worker knows to wait for it a moment."""
        self.arriving += 1
        try:
            yield
        finally:
            self.arriving -= 1

    def submit(self, sample: Sample, params: GenerationParams, timeout_s: float) -> Job:
        """Queue a request; :class:`QueueFull` when ``max_queue`` requests already wait."""
        self._start()
        self.waiting = [j for j in self.waiting if j.wanted]
        if len(self.waiting) >= self.max_queue:
            raise QueueFull
        job = Job(sample, params, time.monotonic() + timeout_s, asyncio.get_running_loop().create_future())
        self.waiting.append(job)
        assert self._wakeup is not None
        self._wakeup.set()
        return job

    def _take(self) -> list[Job]:
        """The oldest wanted request and up to ``max_batch - 1`` others with the same parameters."""
        self.waiting = [j for j in self.waiting if j.wanted]
        if not self.waiting:
            return []
        params = self.waiting[0].params
        batch = [j for j in self.waiting if j.params == params][:self.max_batch]
        taken = set(map(id, batch))
        self.waiting = [j for j in self.waiting if id(j) not in taken]
        return batch

    def _same_params(self) -> int:
        return sum(j.params == self.waiting[0].params for j in self.waiting) if self.waiting else 0

    async def _worker(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self.waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
                until = time.monotonic() + self.batch_wait_s  # the model was idle: let arriving requests join
                while self.arriving and self._same_params() < self.max_batch and time.monotonic() < until:
                    await asyncio.sleep(0.0005)
            batch = self._take()
            if not batch:
                continue
            now = time.monotonic()
            for job in batch:
                job.started, job.batch_size = now, len(batch)
            if self.on_batch:
                self.on_batch(len(batch))
            self.running += len(batch)
            try:
                results = await loop.run_in_executor(self._pool, self._run, batch)
            except Exception as exc:  # a backend bug fails this batch's requests, not the server
                log.exception("batch of %d failed", len(batch))
                results = [exc] * len(batch)
            finally:
                self.running -= len(batch)
            for job, result in zip(batch, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                elif time.monotonic() >= job.deadline:  # the batch was cut short for it: a partial answer
                    job.future.set_exception(timeout_error())
                else:
                    job.future.set_result(result)

    def _run(self, batch: list[Job]) -> list[Generation | Exception]:
        """In the worker thread: context check, one interruptible generate call."""
        samples = [j.sample for j in batch]
        results: list[Generation | Exception | None] = [None] * len(batch)
        context = self.backend.context_length
        lengths = self.backend.count_prompt_tokens(samples) if context else None
        for k, n in enumerate(lengths or []):
            budget = batch[k].params.max_new_tokens
            if n + budget > context:
                results[k] = APIError(400, f"this model's context window is {context} tokens; the prompt takes {n} "
                                           f"and max_tokens asks for {budget} more: shorten the prompt or lower "
                                           "max_tokens", code="context_length_exceeded")
        todo = [k for k, r in enumerate(results) if r is None]
        if todo:
            live = [batch[k] for k in todo]
            gens = self.backend.generate_interruptible([samples[k] for k in todo], batch[0].params,
                                                       lambda: not any(j.wanted for j in live))
            for k, gen in zip(todo, gens, strict=True):
                results[k] = gen
        return [r for r in results if r is not None]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
