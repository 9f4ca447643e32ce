"""`batch-ims plan`: what a manifest would do, without sending anything.

Offline, it counts the operations per attribute and shows a few sample values of each (so
a wrongly decoded file is visible before anything is sent). With `--diff`, each image's
current attributes are read (GET, through the same session, pacing, retries and
dispatcher as a run) and the plan shows `before -> after` per attribute. Every text from
the manifest or a server is shown with its control characters escaped (`batch_ims.console`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from batch_ims.console import shown
from batch_ims.errors import UsageError
from batch_ims.exitcodes import ExitCode
from batch_ims.manifest import Manifest
from batch_ims.models import HIDDEN_ROW, Finished, ImageTask, Outcome, Status, invalid, sent
from batch_ims.output.report import Report
from batch_ims.values import as_text

if TYPE_CHECKING:  # the network side is imported only by --diff (aiohttp: a tenth of a second)
    from batch_ims.clouds import Cloud
    from batch_ims.clouds.base import Explained, Target
    from batch_ims.run.image import ImageStep
    from batch_ims.settings import RunSettings
    from batch_ims.transport.exchange import AttemptCount

_SHOWN_INVALID = 50
_SAMPLES = 3
_SAMPLE_WIDTH = 24


@dataclass(slots=True)
class AttributePlan:
    counts: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)


def op_table(tasks: Iterable[ImageTask]) -> dict[str, AttributePlan]:
    """attribute -> count of each op over all valid images, and its first distinct values."""
    table: dict[str, AttributePlan] = {}
    for task in tasks:
        for op in task.ops:
            plan = table.get(op.attribute)
            if plan is None:
                plan = table[op.attribute] = AttributePlan()
            plan.counts[op.op] += 1
            value = op.value
            if value is not None and len(plan.samples) < _SAMPLES and value not in plan.samples:
                plan.samples.append(value)
    return dict(sorted(table.items()))


def _shown(value: str) -> str:
    text = value if len(value) <= _SAMPLE_WIDTH else value[: _SAMPLE_WIDTH - 1] + "…"
    return repr(text)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def render_plan(manifest: Manifest, out: TextIO) -> None:
    errors = [error for item in manifest.invalid for error in item.errors]
    invalid_rows = len({error.row for error in errors})
    invalid = _counted(invalid_rows, "invalid row")
    if invalid_rows:
        invalid += f" in {_counted(len(manifest.invalid), 'image')} (not sent)"
    out.write(
        f"plan for {shown(str(manifest.path))} ({manifest.layout} layout): "
        f"{_counted(manifest.row_count, 'row')}, {_counted(manifest.image_count, 'image')} "
        f"to update ({_counted(manifest.op_count, 'operation')}), {invalid}\n"
    )
    table = manifest.summary(_SAMPLES)  # from the validated columns: no task is built
    if table:
        names = {attribute: shown(attribute) for attribute in table}
        width = max(len("attribute"), *(len(name) for name in names.values()))
        out.write(
            f"  {'attribute':<{width}}  {'add':>8}  {'replace':>8}  {'remove':>8}  sample values\n"
        )
        for attribute, plan in table.items():
            counts = plan.counts
            samples = ", ".join(_shown(v) for v in plan.samples)
            out.write(
                f"  {names[attribute]:<{width}}  {counts['add']:>8}  {counts['replace']:>8}  "
                f"{counts['remove']:>8}  {samples}\n".rstrip(" ")
            )
    if manifest.warnings:
        out.write(f"warnings ({len(manifest.warnings)}):\n")
        for warning in manifest.warnings:
            out.write(f"  {shown(warning.describe())}\n")
    _render_hidden(manifest, out)
    if errors:
        out.write(f"invalid rows ({invalid_rows}):\n")
        for error in sorted(errors, key=lambda e: e.row)[:_SHOWN_INVALID]:
            out.write(f"  {shown(str(manifest.path))}: {shown(error.describe())}\n")
        if len(errors) > _SHOWN_INVALID:
            out.write(f"  ... and {len(errors) - _SHOWN_INVALID} more (see --report)\n")


_HIDDEN_CHOICES = {
    None: "a run refuses this manifest until given --hidden-rows skip or include",
    "skip": "--hidden-rows skip: not in the counts above; a run reports them skipped",
    "include": "--hidden-rows include: in the counts above; a run sends them",
}


def _render_hidden(manifest: Manifest, out: TextIO) -> None:
    hidden = manifest.hidden
    if hidden is None:
        return
    out.write(f"hidden rows ({len(hidden)}; {_HIDDEN_CHOICES[hidden.choice]}):\n")
    for row in hidden.rows[:_SHOWN_INVALID].tolist():
        out.write(f"  {manifest.path}: row {row}: {HIDDEN_ROW}\n")
    if len(hidden) > _SHOWN_INVALID:
        out.write(f"  ... and {len(hidden) - _SHOWN_INVALID} more\n")


def write_invalid_report(manifests: Iterable[Manifest], path: Path, *, overwrite: bool) -> None:
    """The invalid rows in the report format, claimed and committed as a run's report is:
    an existing file is replaced only with `overwrite`."""
    report = Report(path, overwrite=overwrite)
    try:
        for manifest in manifests:
            for item in manifest.invalid:
                report.write(invalid(item))
    except BaseException:
        report.discard()
        raise
    report.close()


def render_diff(task: ImageTask, image: dict[str, Any] | None, out: TextIO) -> None:
    if image is None:
        out.write(f"{shown(task.image_id)}: not found\n")
        return
    out.write(f"{shown(task.image_id)} ({shown(as_text(image.get('name')))}):\n")
    for op in task.ops:
        before = repr(as_text(image[op.attribute])) if op.attribute in image else "(absent)"
        after = "(absent)" if op.op == "remove" else repr(op.value or "")
        same = "  (unchanged)" if before == after else ""
        out.write(f"  {shown(op.attribute)}: {before} -> {after}{same}\n")


@dataclass(frozen=True, slots=True)
class Read:
    task: ImageTask
    image: dict[str, Any] | None
    error: str


class _Reader:
    """The dispatcher's `send` for a preview: one read per image, kept by image id."""

    def __init__(self, step: ImageStep) -> None:
        self._step = step
        self.images: dict[str, dict[str, Any] | None] = {}
        self.errors: dict[str, str] = {}

    async def read(self, task: ImageTask, count: AttemptCount) -> Finished:
        image, exchange = await self._step.read(task.image_id)
        missing = exchange.result is not None and exchange.result.status == 404
        if image is None and not exchange.ok and not missing:  # a 404 is "not found" below
            reason = exchange.error.code if exchange.error else ""
            if exchange.transport is not None:
                reason = exchange.transport.kind
            self.errors[task.image_id] = f"could not read: {reason or 'run stopped'}"
            return self._step.failed(task, 0.0, exchange)
        self.images[task.image_id] = image
        return Finished(_read_ok(task))


def _read_ok(task: ImageTask) -> Outcome:
    return sent(task, Status.SUCCEEDED, http_status=200, attempts=0, request_id="", duration_ms=0)


async def read_states(tasks: list[ImageTask], settings: RunSettings, target: Target) -> list[Read]:
    """Current attributes of every image, through the run's dispatcher, in manifest order."""
    from batch_ims.run.dispatcher import Dispatcher, DispatchOptions
    from batch_ims.run.session import SignInStopped, open_session
    from batch_ims.run.stop import RunStop
    from batch_ims.stats import RunStats

    stop = RunStop(settings.stop_policy)
    reader: _Reader | None = None
    try:
        async with open_session(settings, target, stats=RunStats(), stop=stop) as connected:
            reader = _Reader(connected.step)
            dispatcher = Dispatcher(
                send=reader.read,
                record=lambda outcome: None,
                stop=stop,
                options=DispatchOptions(grace_s=settings.grace),
                workers=connected.in_flight,
            )
            await dispatcher.run(tasks)
    except SignInStopped:
        pass
    return [_read_of(task, reader) for task in tasks]


def _read_of(task: ImageTask, reader: _Reader | None) -> Read:
    if reader is None:
        return Read(task, None, "not read: the preview stopped")
    if task.image_id in reader.images:
        return Read(task, reader.images[task.image_id], "")
    return Read(task, None, reader.errors.get(task.image_id, "not read: the preview stopped"))


def print_diff(reads: list[Read], out: TextIO) -> ExitCode:
    failed = False
    for read in reads:
        if read.error:
            failed = True
            out.write(f"{shown(read.task.image_id)}: {shown(read.error)}\n")
        else:
            failed = failed or read.image is None  # not found: the run would get a 404
            render_diff(read.task, read.image, out)
    return ExitCode.SOME_FAILED if failed else ExitCode.OK


def print_explained(explained: Explained, out: TextIO) -> None:
    """Where a run would send its requests and how it would sign in; nothing is sent."""
    out.write(
        f"target: {shown(str(explained.cloud))}\n"
        f"  service:        {shown(str(explained.service))}\n"
        f"  image endpoint: {shown(str(explained.image_endpoint))}\n"
        f"  sign-in:        {shown(str(explained.auth_endpoint))}\n"
        f"  auth mode:      {shown(str(explained.auth_mode))}\n"
    )


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """What `plan` was asked for, beyond the run's settings."""

    sheet: str | None
    encoding: str | None
    strict: bool
    report: Path | None
    diff: bool
    explain: bool
    out: Path | None
    hidden_rows: str | None = None  # --hidden-rows: "skip", "include", or None (listed)


def run_plan(settings: RunSettings, cloud: Cloud, request: PlanRequest, out: TextIO) -> ExitCode:
    """`plan`: each target's part of the manifest (one part without target columns), its
    counts, and with --diff its before -> after; --out binds one target's plan."""
    from batch_ims.clouds import scoped_cloud
    from batch_ims.manifest import load_manifest_targets
    from batch_ims.manifest.targets import several_targets

    parts = load_manifest_targets(
        settings.manifest,
        sheet=request.sheet,
        encoding=request.encoding,
        strict=request.strict,
        rules=cloud.rules,
        target_columns=cloud.target_columns,
        hidden_rows=request.hidden_rows,
    )
    several = several_targets(parts)
    if request.out is not None and several:
        raise UsageError("--out: a plan binds one target; split the manifest by its targets")
    scoped = [
        (cells, scoped_cloud(cloud, cells, settings.manifest), manifest)
        for cells, manifest in parts
    ]
    if request.report is not None:  # first: a reader of stdout that leaves early cuts nothing
        write_invalid_report(
            (manifest for _, _, manifest in scoped), request.report, overwrite=settings.overwrite
        )
    code = ExitCode.OK
    for cells, target_cloud, manifest in scoped:
        if several:
            out.write(f"target {shown(cells.label) if cells.label else '(the run’s own)'}:\n")
        if request.explain:
            print_explained(target_cloud.explain(), out)
        code = max(code, run_preview(manifest, out))
    if request.diff:
        for _, target_cloud, manifest in scoped:
            bound = None if request.out is None else PlanOut(request.out, target_cloud.explain())
            code = max(code, run_diff(manifest, settings, target_cloud.target(), out, bound))
    return code


def run_preview(manifest: Manifest, out: TextIO) -> ExitCode:
    render_plan(manifest, out)
    return ExitCode.SOME_FAILED if manifest.invalid else ExitCode.OK


@dataclass(frozen=True, slots=True)
class PlanOut:
    """Where `plan --diff --out` writes the reviewed plan, and the target it was made for."""

    path: Path
    target: Explained


def run_diff(
    manifest: Manifest,
    settings: RunSettings,
    target: Target,
    out: TextIO,
    plan_out: PlanOut | None = None,
) -> ExitCode:
    """Read, show before -> after, and with `plan_out` write the plan bound to what was shown
    (claimed before the reads, so a locked or existing file is refused before any GET)."""
    if plan_out is None:
        return print_diff(asyncio.run(read_states(manifest.tasks, settings, target)), out)
    from batch_ims.output.files import OutputFile
    from batch_ims.output.planfile import write_plan
    from batch_ims.run.bound import target_identity

    with OutputFile("--out", plan_out.path, overwrite=settings.overwrite) as claimed:
        reads = asyncio.run(read_states(manifest.tasks, settings, target))
        code = print_diff(reads, out)
        write_plan(
            claimed,
            manifest=settings.manifest,
            target=target_identity(plan_out.target),
            reads=((read.task, read.image, not read.error) for read in reads),
        )
    path = shown(str(plan_out.path))
    out.write(f"plan written to {path}: apply it with run --plan {path}\n")
    return code
