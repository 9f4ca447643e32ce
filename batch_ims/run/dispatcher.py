"""The send stage: a fixed pool of workers, each taking the next task when it is free.

Workers pull from one shared iterator (the tasks are built as they are taken, a chunk at a
time), so no task waits in a queue and no producer is woken once per image. Every task
handed to `run` comes out as exactly one outcome: sent, or `aborted` when the run stops
first (never taken, or cancelled in flight after the grace period).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

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
    concurrency: int
    grace_s: float


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
    ) -> None:
        self._send = send
        self._record = record
        self._stop = stop
        self._options = options
        self._workers: list[asyncio.Task[None]] = []
        self._jobs: list[asyncio.Task[None]] = []

    def cancel_in_flight(self) -> None:
        """Second signal or grace period over: cancel what is still in flight."""
        for job in self._jobs:
            job.cancel()

    async def run(self, tasks: Iterable[ImageTask]) -> None:
        remaining = iter(tasks)
        self._workers = [
            asyncio.create_task(self._worker(remaining)) for _ in range(self._options.concurrency)
        ]
        everything = list(self._workers)
        self._jobs = everything
        try:
            await self._join(everything)
        finally:
            for job in everything:
                job.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
            for task in remaining:  # never taken: the run stopped first
                self._record(aborted(task, _NOT_SENT))

    async def _join(self, jobs: list[asyncio.Task[None]]) -> None:
        """Wait for all jobs; once the run stops, give them `grace_s`, then cancel."""
        pending = set(jobs)
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            while pending and not self._stop.stopping:
                await asyncio.wait(pending | {stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                self._raise_failures(pending)
                pending = {job for job in pending if not job.done()}
        finally:
            stop_wait.cancel()
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
        while not self._stop.stopping:
            task = next(tasks, None)
            if task is None:
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
