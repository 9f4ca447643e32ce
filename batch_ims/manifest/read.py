"""File -> Table: CSV/TSV/TXT through pandas' C parser, XLSX through openpyxl.

Every cell is read as text (`dtype=str`, no NA conversion): "0001" stays "0001", an empty
cell is "". Rows are numbered as a spreadsheet shows them: record number, counting the
header record, so a quoted cell holding a line break does not shift the numbering.

Excel's `sep=;` first line (also `sep=,` or `sep=` and a tab, optionally in double quotes)
declares the delimiter. Excel hides that line when it opens the file, so it is skipped and
not counted: the header is row 1, as the user sees it.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from batch_ims.errors import ManifestError
from batch_ims.manifest.encoding import HEAD_BYTES, Scan, decode_head, detect_encoding
from batch_ims.manifest.table import INDEX, MAX_COLUMNS, ObjArray, Table, header_key

DELIMITED: Final = {".csv": (",", ";", "\t"), ".tsv": ("\t",), ".txt": ("\t",)}
SUPPORTED: Final = (".csv", ".tsv", ".txt", ".xlsx")
_EXTRA_CELLS: Final = 64  # empty cells tolerated past the header (Excel's trailing commas)
_HAS_TEXT = np.frompyfunc(lambda cell: bool(str(cell).strip()), 1, 1)
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
_BINARY_SHARE: Final = 0.05  # of the first 64 Ki characters being control characters
_SEP_LINE = re.compile(r'\A\ufeff?("?)sep=(\t|\\t|[^\r\n])\1[ \t]*(\r\n|\n|\r)', re.IGNORECASE)


def read_table(path: str, *, sheet: str | None, encoding: str | None) -> Table:
    """Read any supported manifest file into a Table, or raise ManifestError."""
    suffix = _check_file(path)
    if suffix == ".xlsx":
        from batch_ims.manifest.xlsx import read_xlsx

        return read_xlsx(path, sheet=sheet)
    if sheet is not None:
        raise ManifestError(path, "--sheet applies to .xlsx workbooks only")
    return _read_delimited(path, DELIMITED[suffix], encoding)


def _check_file(path: str) -> str:
    file = Path(path)
    try:
        if file.is_dir():
            raise ManifestError(path, "is a directory, not a manifest file")
        size = file.stat().st_size
    except FileNotFoundError:
        raise ManifestError(path, "no such file") from None
    except OSError as error:
        raise ManifestError(path, f"cannot read the file: {error.strerror or error}") from None
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED:
        raise ManifestError(
            path, f"unsupported file type {suffix or '(none)'!r}; use {', '.join(SUPPORTED)}"
        )
    if size == 0:
        raise ManifestError(path, "the file is empty; expected a header row and data rows")
    return suffix


def _read_delimited(path: str, delimiters: tuple[str, ...], encoding: str | None) -> Table:
    try:
        with Path(path).open("rb") as stream:
            head = stream.read(HEAD_BYTES + 1)
    except OSError as error:
        raise ManifestError(path, f"cannot read the file: {error.strerror or error}") from None
    complete = len(head) <= HEAD_BYTES
    head = head[:HEAD_BYTES]
    scan = detect_encoding(path, head, override=encoding)
    text = decode_head(head, scan.encoding, complete=complete)
    _reject_binary(path, text)
    if not complete:
        if "\n" not in text:
            raise ManifestError(path, "the first line is longer than 1 MiB: not a manifest")
        text = text[: text.rfind("\n") + 1]
    declared, text = _sep_line(text)
    hidden = 0 if declared is None else 1  # lines before the header Excel does not show
    delimiter, header, skipped = _parse_header(
        path, text, delimiters if declared is None else (declared,)
    )
    _check_width(path, len(header), row=skipped)
    body = _Body(path, scan.encoding, delimiter, len(header), skipped, hidden)
    columns = _parse_body(body)
    height = len(columns[0]) if columns else 0
    return Table(
        header=header,
        header_row=skipped,
        columns=columns,
        row_numbers=np.arange(skipped + 1, skipped + 1 + height, dtype=INDEX),
        notes={},
        small_cells=_cells_are_small(scan, records=hidden + skipped + height),
        source=(("encoding", scan.encoding), ("delimiter", delimiter)),
    )


def _sep_line(text: str) -> tuple[str | None, str]:
    """(the delimiter an Excel `sep=` first line declares, the text after it)."""
    found = _SEP_LINE.match(text)
    if found is None:
        return None, text
    declared = found.group(2)
    return ("\t" if declared in ("\t", "\\t") else declared), text[found.end() :]


def _check_width(path: str, width: int, *, row: int) -> None:
    if width > MAX_COLUMNS:
        raise ManifestError(
            path,
            f"the header has {width} columns; at most {MAX_COLUMNS} are allowed",
            row=row,
        )


@dataclass(frozen=True, slots=True)
class _Body:
    """Where the data rows are: `skipped` records up to the header, after `hidden` lines."""

    path: str
    codec: str
    delimiter: str
    width: int
    skipped: int
    hidden: int


def _cells_are_small(scan: Scan, *, records: int) -> bool:
    """No cell can exceed the limit if no line does and no cell holds a line break."""
    breaks_in_cells = scan.newlines - records + (0 if scan.ends_with_newline else 1)
    return breaks_in_cells <= 0 and not scan.long_line


def _reject_binary(path: str, text: str) -> None:
    sample = text[: 1 << 16]
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n")
    if "\x00" in sample or controls > max(8, _BINARY_SHARE * len(sample)):
        raise ManifestError(path, "binary data (control characters), not a text manifest")


def _parse_header(
    path: str, text: str, delimiters: tuple[str, ...]
) -> tuple[str, tuple[str, ...], int]:
    """(delimiter, header cells, records up to and including the header)."""
    found: list[tuple[str, tuple[str, ...], int]] = []
    for delimiter in delimiters:
        header, records = _first_record(path, text, delimiter)
        if any(header_key(cell) == "image_id" for cell in header):
            return delimiter, header, records
        found.append((delimiter, header, records))
    return max(found, key=lambda item: len(item[1]))


def _first_record(path: str, text: str, delimiter: str) -> tuple[tuple[str, ...], int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    records = 0
    try:
        for record in reader:
            records += 1
            if any(cell.strip() for cell in record):
                if records == 1 and record:
                    record[0] = record[0].lstrip("\ufeff")
                return tuple(record), records
    except csv.Error as error:
        raise ManifestError(path, f"cannot read the header row: {error}", row=records + 1) from None
    raise ManifestError(path, "no header row: only blank lines")


def _parse_body(body: _Body) -> tuple[ObjArray, ...]:
    """The data cells, column by column. A row with more non-empty cells than the header is
    an error; empty cells past the header (`a,b,,,` as spreadsheets export) are dropped."""
    path, width, skipped = body.path, body.width, body.skipped
    try:
        return _parse_columns(body, width)
    except ManifestError as error:
        if "more than the header" not in error.problem and "more cells than" not in error.problem:
            raise
        first_error = error
    try:
        wider = _parse_columns(body, width + _EXTRA_CELLS)
    except ManifestError:
        raise first_error from None
    rows_with_text = [
        np.flatnonzero(np.asarray(_HAS_TEXT(extra), dtype=bool)) for extra in wider[width:]
    ]
    first = min((int(found[0]) for found in rows_with_text if len(found)), default=None)
    if first is not None:
        row = skipped + 1 + first
        raise first_error if first_error.row == row else _ragged(path, width, row=row, cells=None)
    return wider[:width]


def _parse_columns(body: _Body, names: int) -> tuple[ObjArray, ...]:
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = _read_csv(
                body.path, body.codec, body.delimiter, names, body.hidden + body.skipped
            )
    except pd.errors.ParserWarning:
        raise _ragged(body.path, body.width, row=body.skipped + 1, cells=None) from None
    except pd.errors.EmptyDataError:
        return tuple(np.empty(0, dtype=object) for _ in range(names))
    except (ValueError, UnicodeError, OSError, MemoryError, OverflowError) as error:
        raise _parser_error(body.path, body.width, error, hidden=body.hidden) from None
    columns = tuple(frame[c].to_numpy(dtype=object) for c in range(names))
    del frame
    return columns


def _read_csv(path: str, codec: str, delimiter: str, width: int, skipped: int) -> Any:
    import pandas as pd

    return pd.read_csv(
        path,
        sep=delimiter,
        header=None,
        names=list(range(width)),
        skiprows=skipped,
        dtype=str,
        na_filter=False,
        keep_default_na=False,
        skip_blank_lines=False,
        index_col=False,
        encoding=codec,
        encoding_errors="strict",
        engine="c",
        quotechar='"',
        doublequote=True,
    )


def _ragged(path: str, width: int, *, row: int, cells: int | None) -> ManifestError:
    count = "more cells than" if cells is None else f"{cells} cells, more than"
    return ManifestError(
        path,
        f"this row has {count} the header's {width} columns; quote cells that "
        "contain the delimiter, or give the extra column a header",
        row=row,
    )


def _parser_error(path: str, width: int, error: Exception, *, hidden: int) -> ManifestError:
    """pandas counts the hidden `sep=` line; the user's row numbers do not."""
    message = str(error)
    ragged = _RAGGED.search(message)
    if ragged is not None:
        row = int(ragged.group(2)) - hidden
        return _ragged(path, width, row=row, cells=int(ragged.group(3)))
    quote = _OPEN_QUOTE.search(message)
    if quote is not None:
        return ManifestError(
            path,
            "a quoted cell that starts in this row is never closed (missing '\"')",
            row=int(quote.group(1)) + 1 - hidden,
        )
    first_line = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return ManifestError(path, f"cannot parse the file: {first_line}")
