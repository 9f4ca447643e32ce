"""`batch-ims plan`: what a manifest would do, without sending anything.

With `--diff`, each image's current attributes are read (GET, paced and retried like a
run) and the plan shows `before -> after` per attribute.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from batch_ims.auth import Authenticator
from batch_ims.control import RunControl, StopPolicy
from batch_ims.exitcodes import ExitCode
from batch_ims.imagestate import as_text
from batch_ims.manifest import Manifest
from batch_ims.models import ImageTask
from batch_ims.output.report import open_report
from batch_ims.runner import pause_until_stopped
from batch_ims.session import Transport, open_sender
from batch_ims.stats import RunStats

_SHOWN_INVALID = 50


def op_table(tasks: Iterable[ImageTask]) -> dict[str, Counter[str]]:
    """attribute -> count of each op over all valid images."""
    pairs = Counter((op.path, op.op) for task in tasks for op in task.ops)
    table: dict[str, Counter[str]] = {}
    for (path, name), count in pairs.items():
        counts = table.get(path[1:])
        if counts is None:
            counts = table[path[1:]] = Counter()
        counts[name] = count
    return dict(sorted(table.items()))


def render_plan(manifest: Manifest, out: TextIO) -> None:
    ops = sum(len(t.ops) for t in manifest.tasks)
    out.write(
        f"plan for {manifest.path} ({manifest.layout} layout): {manifest.row_count} rows, "
        f"{len(manifest.tasks)} images to update ({ops} operations), "
        f"{len(manifest.invalid)} invalid\n"
    )
    table = op_table(manifest.tasks)
    if table:
        width = max(len("attribute"), *(len(a) for a in table))
        out.write(f"  {'attribute':<{width}}  {'add':>8}  {'replace':>8}  {'remove':>8}\n")
        for attribute, counts in table.items():
            out.write(
                f"  {attribute:<{width}}  {counts['add']:>8}  {counts['replace']:>8}  "
                f"{counts['remove']:>8}\n"
            )
    errors = [error for item in manifest.invalid for error in item.errors]
    if errors:
        out.write(f"invalid rows ({len(errors)}):\n")
        for error in sorted(errors, key=lambda e: e.row)[:_SHOWN_INVALID]:
            out.write(f"  {manifest.path}: {error.describe()}\n")
        if len(errors) > _SHOWN_INVALID:
            out.write(f"  ... and {len(errors) - _SHOWN_INVALID} more (see --report)\n")


def write_invalid_report(manifest: Manifest, path: Path) -> None:
    from batch_ims.app import invalid_outcome

    report = open_report(path)
    try:
        for item in manifest.invalid:
            report.write(invalid_outcome(item))
    finally:
        report.close()


def render_diff(task: ImageTask, image: dict[str, Any] | None, out: TextIO) -> None:
    if image is None:
        out.write(f"{task.image_id}: not found\n")
        return
    out.write(f"{task.image_id} ({as_text(image.get('name'))}):\n")
    for op in task.ops:
        before = repr(as_text(image[op.attribute])) if op.attribute in image else "(absent)"
        after = "(absent)" if op.op == "remove" else repr(op.value or "")
        same = "  (unchanged)" if before == after else ""
        out.write(f"  {op.attribute}: {before} -> {after}{same}\n")


@dataclass(frozen=True, slots=True)
class _Read:
    task: ImageTask
    image: dict[str, Any] | None
    error: str


async def read_states(
    tasks: list[ImageTask], transport: Transport, auth: Authenticator
) -> list[_Read]:
    """Current attributes of every image, `concurrency` GETs at a time, in manifest order."""
    stop_event = asyncio.Event()
    stats = RunStats()
    control = RunControl(StopPolicy(max_failure_rate=1.0))
    limit = asyncio.Semaphore(transport.concurrency)
    async with open_sender(
        transport,
        auth,
        stats=stats,
        control=control,
        pause=lambda seconds: pause_until_stopped(stop_event, seconds),
    ) as sender:

        async def one(task: ImageTask) -> _Read:
            async with limit:
                image, exchange = await sender.read_image(task.image_id)
            if image is None and not exchange.ok:
                reason = exchange.error.code if exchange.error else ""
                if exchange.transport is not None:
                    reason = exchange.transport.kind
                return _Read(task, None, f"could not read: {reason}")
            return _Read(task, image, "")

        results: list[_Read] = []
        batch = transport.concurrency * 4
        for start in range(0, len(tasks), batch):
            chunk = tasks[start : start + batch]
            results.extend(await asyncio.gather(*(one(t) for t in chunk)))
        return results


def print_diff(reads: list[_Read], out: TextIO) -> ExitCode:
    failed = False
    for read in reads:
        if read.error:
            failed = True
            out.write(f"{read.task.image_id}: {read.error}\n")
        else:
            failed = failed or read.image is None  # not found: the run would get a 404
            render_diff(read.task, read.image, out)
    return ExitCode.SOME_FAILED if failed else ExitCode.OK
