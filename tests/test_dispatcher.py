"""batch_ims.runner.Dispatcher with a fake `send`: one outcome per task, bounded, stoppable."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

from batch_ims.run.stop import RunControl, StopPolicy, StopReason
from batch_ims.models import ImageTask, Op, Outcome, Status
from batch_ims.run.dispatcher import Dispatcher, DispatchOptions
from batch_ims.send import Finished

Send = Callable[[ImageTask], Awaitable[Finished]]
SAFETY_S = 5.0  # a hung dispatcher fails the test instead of hanging the suite


def _tasks(count: int) -> Iterator[ImageTask]:
    for i in range(count):
        yield ImageTask(image_id=f"img-{i:06d}", ops=(Op("replace", "/name", "x"),), rows=(i + 2,))


def _ids(count: int) -> list[str]:
    return [task.image_id for task in _tasks(count)]


def _finished(task: ImageTask, status: Status = Status.SUCCEEDED) -> Finished:
    outcome = Outcome(
        image_id=task.image_id, status=status, rows=task.rows, ops=task.ops, attempts=1
    )
    return Finished(outcome, auth_failure=False)


class _Run:
    """A dispatcher, its recorded outcomes and its control."""

    def __init__(
        self,
        send: Send,
        *,
        concurrency: int = 4,
        grace_s: float = 5.0,
        policy: StopPolicy | None = None,
    ) -> None:
        self.outcomes: list[Outcome] = []
        self.control = RunControl(policy or StopPolicy())
        self.dispatcher = Dispatcher(
            send=send,
            record=self.outcomes.append,
            control=self.control,
            options=DispatchOptions(concurrency=concurrency, grace_s=grace_s),
        )

    def stop(self, reason: StopReason = StopReason.SIGINT) -> None:
        """What the signal handler does."""
        self.control.stop(reason)
        self.dispatcher.request_stop()

    async def run(self, tasks: Iterator[ImageTask]) -> None:
        async with asyncio.timeout(SAFETY_S):
            await self.dispatcher.run(tasks)

    def per_image(self) -> Counter[str]:
        return Counter(o.image_id for o in self.outcomes)

    def statuses(self) -> Counter[Status]:
        return Counter(o.status for o in self.outcomes)


async def _quick_send(task: ImageTask) -> Finished:
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

    async def send(task: ImageTask) -> Finished:
        if run.control.stopping:
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
    async def send(task: ImageTask) -> Finished:
        await asyncio.sleep(0)
        return _finished(task, Status.FAILED)

    run = _Run(send, concurrency=1, policy=StopPolicy(max_failure_rate=0.5, min_finished=5))

    await run.run(_tasks(40))

    assert run.control.reason is StopReason.FAILURE_THRESHOLD
    assert sorted(run.per_image().elements()) == _ids(40)
    assert run.statuses() == Counter({Status.FAILED: 5, Status.ABORTED: 35})


async def test_grace_expiry_cancels_a_send_that_never_returns() -> None:
    started = asyncio.Event()

    async def send(task: ImageTask) -> Finished:
        if task.image_id == "img-000000":
            started.set()
            await asyncio.Event().wait()  # an answer that never comes
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

    async def send(task: ImageTask) -> Finished:
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

    async def send(task: ImageTask) -> Finished:
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


async def test_large_task_list_keeps_tasks_and_queue_bounded() -> None:
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

    async def send(task: ImageTask) -> Finished:
        nonlocal most_tasks
        most_tasks = max(most_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return _finished(task)

    run = _Run(send, concurrency=concurrency)

    await run.run(lazy_tasks())

    assert len(run.outcomes) == count
    # workers + producer + the stop watcher + this test's own task
    assert most_tasks <= concurrency + 3
    # queue (2 x concurrency) + one per worker + the one the producer holds
    assert most_ahead <= 3 * concurrency + 1


async def test_exception_in_send_is_recorded_as_internal_error_and_the_run_goes_on() -> None:
    async def send(task: ImageTask) -> Finished:
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

    async def send(task: ImageTask) -> Finished:
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


async def test_pause_returns_false_when_the_run_goes_on() -> None:
    run = _Run(_quick_send)

    assert await run.dispatcher.pause(0.0) is False


async def test_pause_returns_true_at_once_when_already_stopping() -> None:
    run = _Run(_quick_send)
    run.stop()

    async with asyncio.timeout(1.0):
        assert await run.dispatcher.pause(60.0) is True


async def test_pause_wakes_early_when_the_run_stops() -> None:
    run = _Run(_quick_send)
    pause = asyncio.create_task(run.dispatcher.pause(60.0))
    await asyncio.sleep(0)

    run.stop()

    async with asyncio.timeout(1.0):
        assert await pause is True


async def test_request_stop_sets_a_stop_event_given_by_the_caller() -> None:
    shared = asyncio.Event()
    dispatcher = Dispatcher(
        send=_quick_send,
        record=lambda outcome: None,
        control=RunControl(StopPolicy()),
        options=DispatchOptions(concurrency=1, grace_s=0.0),
        stop_event=shared,
    )

    dispatcher.request_stop()

    assert shared.is_set()
    assert await dispatcher.pause(60.0) is True
