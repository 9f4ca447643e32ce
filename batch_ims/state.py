"""The current-state stage: read each image before patching it (--skip-unchanged, --undo-manifest).

It wraps the sender: GET the image, drop ops that already hold, turn a wide-layout `add`
into `replace` where the attribute exists, PATCH what is left, and hand the old values
of a successful image to the undo manifest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

from batch_ims.imagestate import op_holds
from batch_ims.models import ImageTask, Op, Status, ops_digest
from batch_ims.send import Finished, ImageSender


class UndoSink(Protocol):
    def add(self, task: ImageTask, before: dict[str, Any]) -> None: ...


def resolve_add(ops: tuple[Op, ...], image: dict[str, Any]) -> tuple[Op, ...]:
    """Wide layout with known state: `replace` where the attribute exists, `add` where not."""
    return tuple(
        dataclasses.replace(op, op="replace") if op.op == "add" and op.attribute in image else op
        for op in ops
    )


class StateStage:
    def __init__(
        self,
        sender: ImageSender,
        *,
        skip_unchanged: bool,
        wide_layout: bool,
        undo: UndoSink | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._skip_unchanged = skip_unchanged
        self._wide_layout = wide_layout
        self._undo = undo
        self._clock = clock

    async def send(self, task: ImageTask) -> Finished:
        started = self._clock()
        image, exchange = await self._sender.read_image(task.image_id)
        if image is None and not exchange.ok:
            return self._sender.failed(task, started, exchange)
        if image is None:  # unknown image: the PATCH gets IMS's own 404 answer
            return await self._sender.send(task)
        ops = resolve_add(task.ops, image) if self._wide_layout else task.ops
        if self._skip_unchanged:
            kept = tuple(op for op in ops if not op_holds(image, op))
            if not kept:
                note = "unchanged: every value already holds"
                return self._sender.finish(
                    task, started, exchange, Status.SKIPPED, note=note, holds=True
                )
            ops = kept
        sent = dataclasses.replace(task, ops=ops)
        try:
            finished = await self._sender.send(sent)
        except asyncio.CancelledError:  # cut off in flight: it may have been applied
            if self._undo is not None:
                self._undo.add(sent, image)
            raise
        outcome = finished.outcome
        if self._undo is not None and finished.may_have_applied:
            self._undo.add(sent, image)
        if ops != task.ops:  # the journal must recognise the manifest's ops on --resume
            outcome = dataclasses.replace(outcome, task_digest=ops_digest(task.ops))
            finished = dataclasses.replace(finished, outcome=outcome)
        return finished
