"""The current-state stage: read each image before patching it (--skip-unchanged,
--undo-manifest, --plan).

GET the image; with a reviewed plan, send nothing to an image whose values are no longer the
plan's "before" (drifted); drop ops that already hold, turn a wide-layout `add` into
`replace` where the attribute exists, PATCH what is left, and hand the old values of an
image whose PATCH may have applied to the undo manifest.
With an undo manifest, an image whose read gave no usable image is not sent
(`state_unread`): every change applied has its undo rows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from batch_ims.models import Finished, ImageTask, Op, Outcome, Status, sent, unsent
from batch_ims.output.planfile import PlannedImage, drift
from batch_ims.run.image import ImageStep
from batch_ims.transport.exchange import AttemptCount
from batch_ims.values import op_holds

_UNCHANGED = "unchanged: every value already holds (read first; no PATCH sent)"
_UNREAD = "state_unread"
_UNREAD_MESSAGE = (
    "not sent: the read gave no usable image (an unknown id, or an answer without one), so "
    "the undo manifest could not put it back"
)


_DRIFT_NOTE = "drifted: {names} changed since the plan was made; not sent (--ignore-drift sends)"


class UndoSink(Protocol):
    def add(self, task: ImageTask, before: dict[str, Any]) -> None: ...


def resolve_add(ops: tuple[Op, ...], image: dict[str, Any]) -> tuple[Op, ...]:
    """Wide layout with known state: `replace` where the attribute exists, `add` where not."""
    return tuple(
        dataclasses.replace(op, op="replace") if op.op == "add" and op.attribute in image else op
        for op in ops
    )


class CurrentStateStage:
    def __init__(
        self,
        step: ImageStep,
        *,
        skip_unchanged: bool,
        wide_layout: bool,
        undo: UndoSink | None,
        planned: Mapping[str, PlannedImage] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._step = step
        self._planned = planned
        self._skip_unchanged = skip_unchanged
        self._wide_layout = wide_layout
        self._undo = undo
        self._clock = clock

    async def send(self, task: ImageTask, count: AttemptCount) -> Finished:
        started = self._clock()
        image, exchange = await self._step.read(task.image_id)
        if image is None and not exchange.ok:
            return self._step.read_failed(task, started, exchange)
        if self._planned is not None:
            changed = drift(self._planned[task.image_id], image or {})
            if changed:
                note = _DRIFT_NOTE.format(names=", ".join(changed))
                return Finished(unsent(task, Status.DRIFTED, note, code="drifted"))
        if image is None and self._undo is not None:  # no old values: nothing to put back
            return self._step.finish(
                task, started, exchange, Status.FAILED, code=_UNREAD, message=_UNREAD_MESSAGE
            )
        if image is None:  # unknown image: the PATCH gets the service's own 404 answer
            return await self._step.patch(task, count)
        ops = resolve_add(task.ops, image) if self._wide_layout else task.ops
        if self._skip_unchanged:
            ops = tuple(op for op in ops if not op_holds(image, op))
            if not ops:
                return Finished(self._unchanged(task, started))
        try:
            finished = await self._step.patch(task, count, ops)
        except asyncio.CancelledError:  # cut off in flight: it may have been applied
            if self._undo is not None and count.sent:
                self._undo.add(dataclasses.replace(task, ops=ops), image)
            raise
        if self._undo is not None and finished.may_have_applied:
            self._undo.add(dataclasses.replace(task, ops=ops), image)
        return finished

    def _unchanged(self, task: ImageTask, started: float) -> Outcome:
        return sent(
            task,
            Status.SKIPPED,
            http_status=None,
            attempts=0,
            request_id="",
            duration_ms=int((self._clock() - started) * 1000),
            note=_UNCHANGED,
            holds=True,
        )
