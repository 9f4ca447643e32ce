"""The send stage: a pool of workers, each taking the next task when it is free.

Workers pull from one shared iterator (the tasks are built as they are taken, a chunk at a
time), so no task waits in a queue and no producer is woken once per image. The pool
follows `workers.target` (an `InFlightLimit`: what the rate needs at the measured
latency): after each image a worker starts the ones missing, or leaves when there are
too many. Every task handed to `run` comes out as exactly one outcome: sent, or `aborted`
when the run stops first (never taken, or cancelled in flight after the grace period).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import structlog

from batch_ims.models import Finished, ImageTask, Outcome, Status, internal_error, unsent
from batch_ims.run.stop import RunStop
from batch_ims.transport.exchange import AttemptCount

_log = structlog.get_logger("batch_ims")

Send = Callable[[ImageTask, AttemptCount], Awaitable[Finished]]
Record = Callable[[Outcome], None]
_NOT_SENT = "not sent: the run stopped first"
_CANCELLED = "cancelled in flight: the change may or may not have been applied"
_CANCELLED_UNSENT = "cancelled in flight before its PATCH was sent"


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    grace_s: float


class Workers(Protocol):
    """How many workers the pool should have now (read after every image)."""

    @property
    def target(self) -> int: ...


class FixedWorkers:
    """A constant pool (tests, and callers that want no adaptation)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.target = workers


def aborted(task: ImageTask, note: str = _NOT_SENT, attempts: int = 0) -> Outcome:
    return unsent(task, Status.ABORTED, note, attempts=attempts)


class Dispatcher:
    def __init__(
        self,
        *,
        send: Send,
        record: Record,
        stop: RunStop,
        options: DispatchOptions,
        workers: Workers,
    ) -> None:
        self._send = send
        self._record = record
        self._stop = stop
        self._options = options
        self._target = workers
        self._jobs: set[asyncio.Task[None]] = set()  # every worker started and not yet joined
        self._alive = 0  # workers still taking tasks
        self.peak = 0  # the most workers alive at once
        self._tasks: Iterator[ImageTask] = iter(())
        self._exhausted = False  # every task taken: no worker is worth starting

    def cancel_in_flight(self) -> None:
        """Second signal or grace period over: cancel what is still in flight."""
        for job in self._jobs:
            job.cancel()

    async def run(self, tasks: Iterable[ImageTask]) -> None:
        self._tasks = remaining = iter(tasks)
        self._grow()
        try:
            await self._join()
        finally:
            everything = list(self._jobs)
            for job in everything:
                job.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
            for task in remaining:  # never taken: the run stopped first
                self._record(aborted(task, _NOT_SENT))

    def _grow(self) -> None:
        """Start the workers the target asks for beyond those alive."""
        missing = self._target.target - self._alive
        if missing <= 0 or self._exhausted or self._stop.stopping:
            return
        for _ in range(missing):
            self._jobs.add(asyncio.create_task(self._worker(self._tasks)))
        self._alive += missing
        self.peak = max(self.peak, self._alive)

    async def _join(self) -> None:
        """Wait for all jobs; once the run stops, give them `grace_s`, then cancel."""
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            while self._jobs and not self._stop.stopping:
                await asyncio.wait(self._jobs | {stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                self._raise_failures(self._jobs)
                self._jobs = {job for job in self._jobs if not job.done()}
        finally:
            stop_wait.cancel()
        pending = self._jobs
        if pending:
            done, pending = await asyncio.wait(pending, timeout=self._options.grace_s)
            self._raise_failures(done)
        if pending:
            _log.warning("run.grace_expired", in_flight=len(pending))
            for job in pending:
                job.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    @staticmethod
    def _raise_failures(jobs: set[asyncio.Task[None]]) -> None:
        """A bug in a worker must not be swallowed: surface it at once."""
        for job in jobs:
            if job.done() and not job.cancelled() and job.exception() is not None:
                raise job.exception()  # type: ignore[misc]

    async def _worker(self, tasks: Iterator[ImageTask]) -> None:
        try:
            await self._work(tasks)
        finally:
            self._alive -= 1

    async def _work(self, tasks: Iterator[ImageTask]) -> None:
        while not self._stop.stopping:
            if self._alive > self._target.target:  # fewer are needed now: leave
                return
            task = next(tasks, None)
            if task is None:
                self._exhausted = True
                return
            count = AttemptCount()
            try:
                finished = await self._send(task, count)
            except asyncio.CancelledError:
                note = _CANCELLED if count.sent else _CANCELLED_UNSENT
                self._record(aborted(task, note, count.sent))
                raise
            except Exception as exc:  # a bug must not lose the image nor stop the others
                _log.exception("image.internal_error", image_id=task.image_id)
                finished = Finished(internal_error(task, exc, attempts=count.sent))
            self._record(finished.outcome)
            reason = self._stop.observe(finished.outcome, auth_failure=finished.auth_failure)
            if reason is not None:
                _log.warning("run.stopping", reason=reason.value)
            if self._alive < self._target.target:
                self._grow()
