"""batch_ims.run.dispatcher.Dispatcher with a fake `send`: one outcome per task, bounded,
stoppable, and honest about what was in flight when it was cancelled."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import pytest

from batch_ims.models import Finished, ImageTask, Op, Outcome, Status
from batch_ims.run.dispatcher import Dispatcher, DispatchOptions, FixedWorkers
from batch_ims.run.stop import RunStop, StopReason
from batch_ims.settings import StopPolicy
from batch_ims.transport.exchange import AttemptCount
from tests.fakes import stop_policy

Send = Callable[[ImageTask, AttemptCount], Awaitable[Finished]]
SAFETY_S = 5.0  # a hung dispatcher fails the test instead of hanging the suite


def _tasks(count: int) -> Iterator[ImageTask]:
    for i in range(count):
        yield ImageTask(image_id=f"img-{i:06d}", ops=(Op("replace", "/name", "x"),), rows=(i + 2,))


def _ids(count: int) -> list[str]:
    return [task.image_id for task in _tasks(count)]


_policy = stop_policy


def _finished(task: ImageTask, status: Status = Status.SUCCEEDED) -> Finished:
    outcome = Outcome(
        image_id=task.image_id, status=status, rows=task.rows, ops=task.ops, attempts=1
    )
    return Finished(outcome, auth_failure=False)


class _Run:
    """A dispatcher, its recorded outcomes and the run's stop."""

    def __init__(
        self,
        send: Send,
        *,
        concurrency: int = 4,
        grace_s: float = 5.0,
        policy: StopPolicy | None = None,
    ) -> None:
        self.outcomes: list[Outcome] = []
        self.run_stop = RunStop(policy or _policy())
        self.dispatcher = Dispatcher(
            send=send,
            record=self.outcomes.append,
            stop=self.run_stop,
            options=DispatchOptions(grace_s=grace_s),
            workers=FixedWorkers(concurrency),
        )

    def stop(self, reason: StopReason = StopReason.SIGINT) -> None:
        """What the signal handler does."""
        self.run_stop.stop(reason)

    async def run(self, tasks: Iterator[ImageTask], *, safety_s: float = SAFETY_S) -> None:
        async with asyncio.timeout(safety_s):
            await self.dispatcher.run(tasks)

    def per_image(self) -> Counter[str]:
        return Counter(o.image_id for o in self.outcomes)

    def statuses(self) -> Counter[Status]:
        return Counter(o.status for o in self.outcomes)


async def _quick_send(task: ImageTask, count: AttemptCount) -> Finished:
    await asyncio.sleep(0)
    return _finished(task)


async def test_every_task_yields_one_outcome_on_normal_completion() -> None:
    run = _Run(_quick_send, concurrency=4)

    await run.run(_tasks(250))

    assert sorted(run.per_image().elements()) == _ids(250)
    assert run.statuses() == Counter({Status.SUCCEEDED: 250})


async def test_empty_task_list_finishes_with_no_outcomes() -> None:
    run = _Run(_quick_send)

    await run.run(_tasks(0))

    assert run.outcomes == []


async def test_stop_midway_aborts_the_rest_and_sends_nothing_after() -> None:
    sends: list[str] = []
    sent_after_stop: list[str] = []

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        if run.run_stop.stopping:
            sent_after_stop.append(task.image_id)
        sends.append(task.image_id)
        if len(sends) == 10:
            run.stop()
        await asyncio.sleep(0)
        return _finished(task)

    run = _Run(send, concurrency=3)

    await run.run(_tasks(100))

    assert sorted(run.per_image().elements()) == _ids(100)
    assert sent_after_stop == []
    assert run.statuses() == Counter(
        {Status.SUCCEEDED: len(sends), Status.ABORTED: 100 - len(sends)}
    )
    aborted = [o for o in run.outcomes if o.status is Status.ABORTED]
    assert {o.note for o in aborted} == {"not sent: the run stopped first"}


async def test_failure_threshold_stops_dispatch_and_aborts_the_rest() -> None:
    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        await asyncio.sleep(0)
        return _finished(task, Status.FAILED)

    run = _Run(send, concurrency=1, policy=_policy(max_failure_rate=0.5, min_finished=5))

    await run.run(_tasks(40))

    assert run.run_stop.reason is StopReason.FAILURE_THRESHOLD
    assert sorted(run.per_image().elements()) == _ids(40)
    assert run.statuses() == Counter({Status.FAILED: 5, Status.ABORTED: 35})


async def test_grace_expiry_cancels_a_send_that_never_returns() -> None:
    started = asyncio.Event()

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        if task.image_id == "img-000000":
            count.sent += 1  # the PATCH went out ...
            started.set()
            await asyncio.Event().wait()  # ... and its answer never comes
        return _finished(task)

    run = _Run(send, concurrency=2, grace_s=0.05)
    job = asyncio.create_task(run.run(_tasks(6)))
    await started.wait()
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()

    run.stop(StopReason.SIGTERM)
    await job

    assert loop.time() - stopped_at < 1.0
    assert sorted(run.per_image().elements()) == _ids(6)
    hung = [o for o in run.outcomes if o.image_id == "img-000000"]
    assert [(o.status, o.note) for o in hung] == [
        (Status.ABORTED, "cancelled in flight: the change may or may not have been applied")
    ]


async def test_cancel_in_flight_ends_the_run_without_waiting_for_grace() -> None:
    started = asyncio.Event()

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        started.set()
        await asyncio.Event().wait()
        return _finished(task)

    run = _Run(send, concurrency=3, grace_s=60.0)
    job = asyncio.create_task(run.run(_tasks(20)))
    await started.wait()
    await asyncio.sleep(0)

    run.stop()
    run.dispatcher.cancel_in_flight()  # the second signal
    async with asyncio.timeout(1.0):
        await job

    assert sorted(run.per_image().elements()) == _ids(20)
    assert run.statuses() == Counter({Status.ABORTED: 20})


async def test_concurrency_never_exceeds_configured_sends_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return _finished(task)

    run = _Run(send, concurrency=5)

    await run.run(_tasks(300))

    assert peak == 5
    assert len(run.outcomes) == 300


class _Target:
    """A worker target the test moves, as the in-flight limit does from latencies."""

    def __init__(self, target: int) -> None:
        self.target = target


async def test_the_pool_grows_and_shrinks_with_the_target_and_every_image_ends_once() -> None:
    target = _Target(2)
    in_flight = 0
    seen: list[int] = []
    outcomes: list[Outcome] = []

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        nonlocal in_flight
        in_flight += 1
        seen.append(in_flight)
        number = int(task.image_id[-6:])
        if number == 20:
            target.target = 9  # the latency rose: more are needed
        if number == 200:
            target.target = 3  # it fell again
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return _finished(task)

    run = Dispatcher(
        send=send,
        record=outcomes.append,
        stop=RunStop(_policy()),
        options=DispatchOptions(grace_s=5.0),
        workers=target,
    )

    async with asyncio.timeout(SAFETY_S):
        await run.run(_tasks(400))

    assert Counter(o.image_id for o in outcomes) == Counter(_ids(400))
    assert max(seen[:20]) == 2
    assert max(seen) == 9 == run.peak
    assert max(seen[-100:]) == 3


async def test_large_task_list_is_taken_only_as_workers_free_up() -> None:
    concurrency, count = 8, 100_000
    most_tasks = 0
    most_ahead = 0
    pulled = 0

    def lazy_tasks() -> Iterator[ImageTask]:
        nonlocal pulled, most_ahead
        for task in _tasks(count):
            pulled += 1
            most_ahead = max(most_ahead, pulled - len(run.outcomes))
            yield task

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        nonlocal most_tasks
        most_tasks = max(most_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return _finished(task)

    run = _Run(send, concurrency=concurrency)

    await run.run(lazy_tasks(), safety_s=60.0)  # 100k tasks take seconds on a loaded machine

    assert len(run.outcomes) == count
    # workers + the stop watcher + this test's own task
    assert most_tasks <= concurrency + 2
    # nothing waits in a queue: a task is taken by the worker that sends it
    assert most_ahead <= concurrency


async def test_exception_in_send_is_recorded_as_internal_error_and_the_run_goes_on() -> None:
    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        await asyncio.sleep(0)
        if task.image_id == "img-000003":
            raise RuntimeError("boom: a bug in send")
        return _finished(task)

    run = _Run(send, concurrency=2)

    await run.run(_tasks(50))

    assert run.per_image() == Counter({f"img-{i:06d}": 1 for i in range(50)})
    broken = next(o for o in run.outcomes if o.image_id == "img-000003")
    assert (broken.status, broken.error_code) == (Status.FAILED, "internal_error")
    assert "boom" in broken.error_message


async def test_exception_in_send_during_grace_period_is_recorded() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        started.set()
        await release.wait()
        raise RuntimeError("boom: a bug in send")

    run = _Run(send, concurrency=1, grace_s=5.0)
    job = asyncio.create_task(run.run(_tasks(1)))
    await started.wait()
    run.stop()
    for _ in range(10):  # let the dispatcher see the stop and enter its grace period
        await asyncio.sleep(0)

    release.set()
    await job

    assert [(o.image_id, o.error_code) for o in run.outcomes] == [("img-000000", "internal_error")]


async def test_a_run_stopped_before_it_starts_sends_nothing_and_aborts_every_task() -> None:
    sends: list[str] = []

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        sends.append(task.image_id)
        return _finished(task)

    run = _Run(send, concurrency=2)
    run.stop(StopReason.SIGTERM)  # the caller's RunStop is the one the dispatcher asks

    await run.run(_tasks(10))

    assert sends == []
    assert sorted(run.per_image().elements()) == _ids(10)
    assert {(o.status, o.note, o.attempts) for o in run.outcomes} == {
        (Status.ABORTED, "not sent: the run stopped first", 0)
    }


@pytest.mark.parametrize(
    ("sent", "note"),
    [
        (2, "cancelled in flight: the change may or may not have been applied"),  # 503, retry
        (0, "cancelled in flight before its PATCH was sent"),  # e.g. waiting for a slot
    ],
)
async def test_task_cancelled_in_flight_reports_the_attempts_that_went_out(
    sent: int, note: str
) -> None:
    in_flight = asyncio.Event()

    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        count.sent += sent
        in_flight.set()
        await asyncio.Event().wait()
        return _finished(task)

    run = _Run(send, concurrency=1, grace_s=60.0)
    job = asyncio.create_task(run.run(_tasks(1)))
    await in_flight.wait()

    run.stop()
    run.dispatcher.cancel_in_flight()
    async with asyncio.timeout(1.0):
        await job

    assert [(o.status, o.attempts, o.note) for o in run.outcomes] == [(Status.ABORTED, sent, note)]


async def test_exception_in_send_after_attempts_went_out_reports_those_attempts() -> None:
    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        count.sent += 3
        raise RuntimeError("boom: a bug after three attempts")

    run = _Run(send, concurrency=1)

    await run.run(_tasks(1))

    assert [(o.status, o.error_code, o.attempts) for o in run.outcomes] == [
        (Status.FAILED, "internal_error", 3)
    ]


async def test_auth_failures_reported_by_send_stop_the_run_for_auth() -> None:
    async def send(task: ImageTask, count: AttemptCount) -> Finished:
        await asyncio.sleep(0)
        return Finished(_finished(task, Status.FAILED).outcome, auth_failure=True)

    run = _Run(send, concurrency=1, policy=_policy(auth_failure_limit=3))

    await run.run(_tasks(20))

    assert run.run_stop.reason is StopReason.AUTH
    assert run.statuses() == Counter({Status.FAILED: 3, Status.ABORTED: 17})
