"""`batch-ims export`: list images, keep those `--where` selects, write a wide manifest.

The pipeline: list (one page at a time, through the run's session: its pacing, retries,
authentication) → select (`where`) → cells (`columns`) → spool (`output.wide`) → write
the header once every column is known, then the rows. Memory holds one page of the
server's answer, the ids already seen (to write no image twice) and the column names;
the rows wait in the spool file.

The service (its list request, its filters, how its pages chain) comes from the target;
nothing here knows which cloud it talks to.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import structlog

from batch_ims.clouds.base import Target
from batch_ims.errors import BatchImsError, UsageError
from batch_ims.exitcodes import ExitCode
from batch_ims.export.columns import CONTEXT_PREFIX, CellMaker, ColumnChoice, ordered_columns
from batch_ims.export.where import Condition, selected
from batch_ims.manifest.rules import AttributeRules
from batch_ims.output.wide import WideManifest
from batch_ims.run.image import ImageStep
from batch_ims.settings import RunSettings
from batch_ims.transport.exchange import Exchange

_log = structlog.get_logger("batch_ims")


class ExportFailed(BatchImsError):
    """The list could not be read to its end: nothing is written; `code` is the exit code."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What to export, checked: the output, the server's filters, the conditions, columns."""

    out: Path
    filters: Mapping[str, str]
    where: tuple[Condition, ...]
    choice: ColumnChoice
    rules: AttributeRules
    page_size: int
    overwrite: bool = False
    reserved: tuple[str, ...] = ()  # the cloud's target columns: never attribute columns


@dataclass(slots=True)
class ExportCounts:
    listed: int = 0
    pages: int = 0
    repeated: int = 0  # images a later page listed again (written once)
    selected: int = 0
    written: int = 0
    empty: int = 0  # selected images without a value in any written attribute column
    columns: list[str] = field(default_factory=list)


def check_filters(filters: Mapping[str, str], known: frozenset[str]) -> None:
    for key in filters:
        if key not in known:
            raise UsageError(
                f"--filter {key}: not a filter the image service documents; "
                f"use one of {', '.join(sorted(known))} (or --where KEY=VALUE for any property)"
            )


async def pages(
    step: ImageStep, filters: Mapping[str, str], page_size: int, counts: ExportCounts
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of the list to its end, following the service's cursor; a cursor that
    comes back again would loop forever, and stops the export."""
    cursor: str | None = None
    used: set[str] = set()
    while True:
        page, exchange = await step.list_page(filters, cursor, page_size)
        if page is None:
            raise _failed(exchange, counts.pages + 1)
        counts.pages += 1
        _log.debug("export.page", page=counts.pages, images=len(page.images))
        yield page.images
        if page.next is None:
            return
        if page.next in used:
            raise ExportFailed(
                f"the image list links page {counts.pages + 1} back to an earlier page; "
                "nothing written (the service's pagination loops)",
                ExitCode.SOME_FAILED,
            )
        used.add(page.next)
        cursor = page.next


def _failed(exchange: Exchange, page: int) -> ExportFailed:
    where = f"listing the images failed at page {page}"
    if exchange.transport is not None:
        code = ExitCode.UNREACHABLE if exchange.transport.kind == "connection_error" else 1
        return ExportFailed(
            f"{where}: {exchange.transport.kind}: {exchange.transport.detail}; nothing written",
            ExitCode(code),
        )
    if exchange.result is None:
        return ExportFailed(f"{where}: the export stopped; nothing written", ExitCode.ABORTED)
    if exchange.error is not None:
        status = exchange.result.status
        code = ExitCode.ABORTED if status in (401, 403) else ExitCode.SOME_FAILED
        return ExportFailed(
            f"{where}: HTTP {status} {exchange.error.code}: {exchange.error.message}; "
            "nothing written",
            code,
        )
    return ExportFailed(
        f"{where}: the answer is not a page of images (cut at 1 MiB? try a smaller "
        "--page-size); nothing written",
        ExitCode.SOME_FAILED,
    )


async def collect(
    step: ImageStep, request: ExportRequest, writer: WideManifest, counts: ExportCounts
) -> CellMaker:
    """List, select and spool every image; the cell maker counts the cells left empty."""
    seen: set[int] = set()
    maker = CellMaker(request.choice, request.rules, reserved=request.reserved)
    async for images in pages(step, request.filters, request.page_size, counts):
        for image in images:
            counts.listed += 1
            key = uuid.UUID(image["id"]).int
            if key in seen:
                counts.repeated += 1
                continue
            seen.add(key)
            if not selected(image, request.where):
                continue
            counts.selected += 1
            cells = maker.cells(image)
            if all(column.startswith(CONTEXT_PREFIX) for column in cells):
                counts.empty += 1
                continue
            writer.add(image["id"], cells)
            counts.written += 1
    return maker


async def _export(
    settings: RunSettings, target: Target, request: ExportRequest, writer: WideManifest
) -> tuple[ExportCounts, CellMaker]:
    from batch_ims.clouds.auth import AuthFailedError, SignInUnreachableError
    from batch_ims.run.session import SignInStopped, open_session
    from batch_ims.run.stop import RunStop
    from batch_ims.stats import RunStats

    counts = ExportCounts()
    stop = RunStop(settings.stop_policy)
    try:
        async with open_session(settings, target, stats=RunStats(), stop=stop) as connected:
            check_filters(request.filters, connected.step.list_filters)
            maker = await collect(connected.step, request, writer, counts)
    except SignInUnreachableError as exc:  # no answer: not a verdict on the credentials
        raise ExportFailed(f"{exc}; nothing written", ExitCode.UNREACHABLE) from exc
    except AuthFailedError as exc:
        raise ExportFailed(f"{exc}; nothing written", ExitCode.ABORTED) from exc
    except SignInStopped as exc:
        raise ExportFailed("stopped while signing in; nothing written", ExitCode.ABORTED) from exc
    return counts, maker


def run_export(
    settings: RunSettings, target: Target, request: ExportRequest, out: TextIO
) -> ExitCode:
    """Export to `request.out` (replaced whole, or left as it was) and print one summary."""
    writer = WideManifest(request.out, overwrite=request.overwrite)
    try:
        counts, maker = asyncio.run(_export(settings, target, request, writer))
        counts.columns = ordered_columns(list(writer.found), request.choice)
    except BaseException:
        writer.discard()
        raise
    writer.close(counts.columns)
    _log.info(
        "export.finished",
        out=str(request.out),
        pages=counts.pages,
        listed=counts.listed,
        selected=counts.selected,
        written=counts.written,
        columns=len(counts.columns),
    )
    out.write(_summary(request.out, counts, maker))
    return ExitCode.OK


def _summary(path: Path, counts: ExportCounts, maker: CellMaker) -> str:
    lines = [
        f"{path}: {counts.written} images, columns: image_id, {', '.join(counts.columns)} "
        f"({counts.listed} listed in {counts.pages} pages, {counts.selected} selected)\n"
    ]
    if counts.empty:
        lines.append(
            f"  not written: {counts.empty} selected images hold none of the attribute "
            "columns (a wide row with nothing in it is invalid; add name to --columns to "
            "list them)\n"
        )
    if maker.left_empty and maker.first_left_empty is not None:
        image_id, attribute = maker.first_left_empty
        lines.append(
            f"  left empty: {maker.left_empty} cells whose current value a manifest "
            f"cannot send back as it is (first: image {image_id}, {attribute}); an empty "
            "cell leaves the attribute alone\n"
        )
    if counts.repeated:
        lines.append(f"  {counts.repeated} images listed twice by the service, written once\n")
    return "".join(lines)
