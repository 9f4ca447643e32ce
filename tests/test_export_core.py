"""batch_ims.export.core: following pages to the end, once per image, and failing whole."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.clouds.service import ListPage
from batch_ims.exitcodes import ExitCode
from batch_ims.export.columns import ColumnChoice
from batch_ims.export.core import ExportCounts, ExportFailed, ExportRequest, collect
from batch_ims.output.wide import WideManifest
from batch_ims.run.image import ImageStep
from batch_ims.transport.apierror import ApiError
from batch_ims.transport.client import HttpResult
from batch_ims.transport.exchange import Exchange


def _uuid(n: int) -> str:
    return f"{n:08x}-1111-4222-8333-444455556666"


def _ok() -> Exchange:
    return Exchange(HttpResult(200, b"", "", None, None, None), None, None, 1, False, False)


class _Pages:
    """An image step whose list answers are scripted: cursor -> page (or a failed exchange)."""

    def __init__(self, pages: dict[str | None, ListPage | Exchange]) -> None:
        self._pages = pages
        self.asked: list[str | None] = []

    async def list_page(
        self, filters: Mapping[str, str], cursor: str | None, limit: int
    ) -> tuple[ListPage | None, Exchange]:
        self.asked.append(cursor)
        answer = self._pages[cursor]
        return (answer, _ok()) if isinstance(answer, ListPage) else (None, answer)


def _images(*numbers: int) -> list[dict[str, Any]]:
    return [{"id": _uuid(n), "name": f"镜像-{n}"} for n in numbers]


def _collect(tmp_path: Path, step: _Pages) -> tuple[ExportCounts, WideManifest]:
    request = ExportRequest(tmp_path / "o.csv", {}, (), ColumnChoice(None), IMS, page_size=2)
    writer = WideManifest(request.out, overwrite=False)
    counts = ExportCounts()
    try:
        asyncio.run(collect(cast(ImageStep, step), request, writer, counts))
    finally:
        writer.discard()
    return counts, writer


def test_pages_are_followed_to_the_end_and_an_image_listed_twice_is_written_once(
    tmp_path: Path,
) -> None:
    step = _Pages(
        {
            None: ListPage(_images(0, 1), "a"),
            "a": ListPage(_images(1, 2), "b"),  # the list moved: image 1 again
            "b": ListPage([], None),
        }
    )

    counts, writer = _collect(tmp_path, step)

    assert step.asked == [None, "a", "b"]
    assert (counts.pages, counts.listed, counts.repeated, counts.written) == (3, 4, 1, 3)
    assert writer.rows == 3


def test_a_cursor_that_comes_back_stops_the_export(tmp_path: Path) -> None:
    step = _Pages({None: ListPage(_images(0), "a"), "a": ListPage(_images(1), "a")})

    with pytest.raises(ExportFailed, match="links page 3 back to an earlier page") as caught:
        _collect(tmp_path, step)
    assert caught.value.code == ExitCode.SOME_FAILED


@pytest.mark.parametrize(("status", "code"), [(403, ExitCode.ABORTED), (500, ExitCode.SOME_FAILED)])
def test_a_page_that_fails_fails_the_export_naming_the_page(
    tmp_path: Path, status: int, code: ExitCode
) -> None:
    failed = Exchange(
        HttpResult(status, b"", "", None, None, None),
        ApiError(code="IMG.0031", message="无权限"),
        None,
        1,
        False,
        False,
    )
    step = _Pages({None: ListPage(_images(0), "a"), "a": failed})

    with pytest.raises(ExportFailed) as caught:
        _collect(tmp_path, step)

    assert str(caught.value) == (
        f"listing the images failed at page 2: HTTP {status} IMG.0031: 无权限; nothing written"
    )
    assert caught.value.code == code
