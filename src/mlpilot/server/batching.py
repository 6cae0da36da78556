"""Adaptive micro-batching: concurrent requests scored together in one Predictor call.

Requests put their rows on one asyncio queue. A single worker takes whatever is queued (up to
``max_rows`` rows), waits at most ``max_wait_ms`` for more while the batch is not full, groups
the rows by the model each request captured when it arrived, and scores each group with one
``Predictor.predict_records`` call (the pandas-free fast path; bit-identical to
``predict_frame``). Under light load a batch is a single request and nothing waits (with the
default wait of 0 ms); under heavy load requests pile up while the previous batch is scored, so
batches grow by themselves, which is what raises throughput (one transform and model call per
batch instead of per row).

After a group is scored, ``on_scored`` (the prediction log) is called once with every job of the
group *before* any of them is answered, so the log costs one write per batch, not per request,
and a request is still acknowledged only after its entries were written.

``max_rows=1`` turns batching off: each request is scored on its own.

A request whose rows fail in a batch (a value the model's own checks refuse) is retried alone,
so one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlpilot.pipeline.predlog import new_request_id
from mlpilot.pipeline.serving import Served


@dataclass(eq=False)
class Job:
    """One request waiting for its rows to be scored (``outputs`` set once scored)."""

    served: Served
    rows: list[dict[str, Any]]
    future: asyncio.Future[list[dict[str, Any]]] | None = field(default=None, repr=False)
    started: float = field(default_factory=time.perf_counter)
    request_id: str = field(default_factory=new_request_id)
    outputs: list[dict[str, Any]] = field(default_factory=list, repr=False)


OnScored = Callable[[list[Job]], None]


def score(served: Served, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``prediction`` and ``proba_<class>`` per class for each row, JSON-safe, in order."""
    return served.predictor.predict_records(rows)


class MicroBatcher:
    """Collects concurrent requests into batches (see the module docstring).

    Args:
        max_rows: the most rows scored in one call (1: no batching).
        max_wait_ms: how long a batch that is not full may wait for more requests.
        on_batch: called with the number of rows of every scored batch (metrics).
        on_scored: called with the scored jobs of a batch (their ``outputs`` set) before any
            of them is answered; an exception fails those requests (the log could not write).
    """

    def __init__(self, max_rows: int = 64, max_wait_ms: float = 0.0,
                 on_batch: Callable[[int], None] | None = None,
                 on_scored: OnScored | None = None) -> None:
        self.max_rows = max(1, int(max_rows))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.on_batch = on_batch
        self.on_scored = on_scored
        self._queue: asyncio.Queue[Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, served: Served, rows: list[dict[str, Any]],
                     started: float | None = None) -> Job:
        """Score ``rows`` with ``served`` (in a batch with concurrent requests when on): the
        scored (and logged) job, with its ``outputs`` and ``request_id``. ``started``
        (perf_counter) is when the request arrived, for the logged latency."""
        job = Job(served, rows, started=time.perf_counter() if started is None else started)
        if self.max_rows == 1 or len(rows) >= self.max_rows:
            job.outputs = score(served, rows)
            self._count(len(rows))
            if self.on_scored is not None:
                self.on_scored([job])
            return job
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # first call, or a new event loop
            if self._task is not None and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._task.cancel)
            self._loop = loop
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._worker())
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        job.future = future
        self._queue.put_nowait(job)
        await future
        return job

    def _count(self, n: int) -> None:
        if self.on_batch is not None:
            self.on_batch(n)

    async def _worker(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            job = await queue.get()
            jobs, total = [job], len(job.rows)
            deadline = time.monotonic() + self.max_wait
            while total < self.max_rows:
                if queue.empty():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(queue.get(), left)
                    except TimeoutError:
                        break
                else:
                    nxt = queue.get_nowait()
                jobs.append(nxt)
                total += len(nxt.rows)
            self._run(jobs)

    def _run(self, jobs: list[Job]) -> None:
        groups: dict[int, list[Job]] = {}
        for job in jobs:
            groups.setdefault(id(job.served), []).append(job)
        for group in groups.values():
            rows = [row for job in group for row in job.rows]
            try:
                results = score(group[0].served, rows)
            except Exception:
                for job in group:
                    self._run_alone(job)
                continue
            self._count(len(rows))
            start = 0
            for job in group:
                end = start + len(job.rows)
                job.outputs = results[start:end]
                start = end
            self._finish(group)

    def _run_alone(self, job: Job) -> None:
        try:
            job.outputs = score(job.served, job.rows)
        except Exception as exc:
            _fail([job], exc)
            return
        self._count(len(job.rows))
        self._finish([job])

    def _finish(self, jobs: list[Job]) -> None:
        """Log the scored jobs (one call), then answer them."""
        if self.on_scored is not None:
            try:
                self.on_scored(jobs)
            except Exception as exc:
                _fail(jobs, exc)
                return
        for job in jobs:
            if job.future is not None and not job.future.done():
                job.future.set_result(job.outputs)

    async def close(self) -> None:
        """Stop the worker (pending requests were answered or get cancelled)."""
        if self._task is not None and self._loop is asyncio.get_running_loop():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _fail(jobs: list[Job], exc: BaseException) -> None:
    for job in jobs:
        if job.future is not None and not job.future.done():
            job.future.set_exception(exc)
