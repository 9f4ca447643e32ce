"""A wide-layout manifest written by `export`: .csv, .tsv or .xlsx by extension.

Rows arrive before the columns are all known (the default columns are every attribute
any selected image has), so each row is spooled as one JSON line to an unnamed temporary
file beside the output; `close` writes the header, then the rows in arrival order, to the
output's temporary file and renames it over the output (`OutputFile`: locked, never
through a link, never replacing a file without `overwrite`).

Values are written as they are, never neutralised like the report's cells: this file is a
manifest, and its values must round-trip exactly. In .xlsx every cell is a text cell (so
`0001` stays `0001` and no value is ever a formula); CSV/TSV start with a UTF-8 BOM.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from batch_ims.errors import UsageError
from batch_ims.output.files import OutputFile, write_error
from batch_ims.output.report import CsvLines, check_format
from batch_ims.output.sheet import XlsxSheet

FORMATS = {".csv": ",", ".tsv": "\t", ".xlsx": ""}  # extension -> delimiter
LABEL = "--out"
_ID_WIDTH = 38
_WIDTH = 24
_JSON = json.JSONEncoder(ensure_ascii=False)


def check_manifest_path(path: Path) -> None:
    """A format this writer knows (and the manifest reader reads), and not a folder."""
    check_format(LABEL, path, FORMATS)


class WideManifest:
    """Rows of `image_id` plus cells by column name; `found` holds every column seen."""

    def __init__(self, path: Path, *, overwrite: bool) -> None:
        check_manifest_path(path)
        self.path = path
        self.found: dict[str, None] = {}
        self.rows = 0
        self._out = OutputFile(LABEL, path, overwrite=overwrite)
        try:
            self._spool: IO[bytes] = tempfile.TemporaryFile(dir=path.parent)  # noqa: SIM115
        except OSError as exc:
            self._out.discard()
            raise UsageError(f"{LABEL} {str(path)!r}: cannot write: {exc.strerror}") from exc

    def add(self, image_id: str, cells: dict[str, str]) -> None:
        for column in cells:
            if column not in self.found:
                self.found[column] = None
        try:
            self._spool.write((_JSON.encode([image_id, cells]) + "\n").encode("utf-8"))
        except OSError as exc:
            raise write_error(LABEL, self.path, exc) from exc
        self.rows += 1

    def close(self, columns: Sequence[str]) -> None:
        """Write the header (`image_id`, then `columns`) and every row; commit."""
        header = ["image_id", *columns]
        try:
            self._spool.seek(0)
            if self.path.suffix.lower() == ".xlsx":
                self._write_xlsx(header, columns)
            else:
                self._write_delimited(header, columns)
        except OSError as exc:
            self.discard()
            raise write_error(LABEL, self.path, exc) from exc
        except BaseException:
            self.discard()
            raise
        self._spool.close()
        self._out.commit()

    def _write_delimited(self, header: list[str], columns: Sequence[str]) -> None:
        lines = CsvLines(FORMATS[self.path.suffix.lower()])
        out = self._out.file
        out.write(lines.header(header))
        for line in self._spool:
            image_id, cells = json.loads(line)
            out.write(lines.cells([image_id, *(cells.get(c, "") for c in columns)]))

    def _write_xlsx(self, header: list[str], columns: Sequence[str]) -> None:
        widths = [_ID_WIDTH, *(_WIDTH for _ in columns)]
        sheet = XlsxSheet(self._out, "images", header, widths)
        for line in self._spool:
            image_id, cells = json.loads(line)
            sheet.append([image_id, *(cells.get(c) for c in columns)], text=True)
        sheet.finish()

    def discard(self) -> None:
        """Leave the earlier file at the path, if any, as it was."""
        with contextlib.suppress(OSError):
            self._spool.close()
        self._out.discard()
