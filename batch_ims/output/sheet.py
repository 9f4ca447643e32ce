"""One worksheet written row by row (openpyxl's write-only mode), as every .xlsx output is:
a bold header, frozen under the first row and filtered; columns as wide as asked.

`text=True` makes every cell a text cell (type string, number format `@`), so that `0001`
stays `0001` and `=1+1` is never a formula, also when the cell is edited in Excel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batch_ims.output.files import OutputFile

_RED = "FFFFC7CE"


class XlsxSheet:
    def __init__(
        self, out: OutputFile, title: str, header: Sequence[str], widths: Sequence[float]
    ) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font, PatternFill
        from openpyxl.utils import get_column_letter

        self._out = out
        self._cell = WriteOnlyCell
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title)
        self._sheet.freeze_panes = "A2"
        for index, width in enumerate(widths, start=1):
            self._sheet.column_dimensions[get_column_letter(index)].width = width
        self._last_column = get_column_letter(max(len(header), 1))
        self._fill = PatternFill(fill_type="solid", start_color=_RED, end_color=_RED)
        bold = Font(bold=True)
        cells = []
        for name in header:
            cell = WriteOnlyCell(self._sheet, value=name)
            cell.font = bold
            cells.append(cell)
        self._sheet.append(cells)
        self._rows = 1

    def append(self, values: Sequence[Any], *, fill: bool = False, text: bool = False) -> None:
        """One row; `fill`: shaded red (a failure); `text`: every value a text cell."""
        if fill or text:
            cells: list[Any] = []
            for value in values:
                if value is None and not fill:
                    cells.append(None)  # an empty cell, not an empty text
                    continue
                cell = self._cell(self._sheet, value=value)
                if text and value is not None:
                    cell.data_type = "s"  # never a formula, whatever the text starts with
                    cell.number_format = "@"
                if fill:
                    cell.fill = self._fill
                cells.append(cell)
            self._sheet.append(cells)
        else:
            self._sheet.append(list(values))
        self._rows += 1

    def finish(self) -> None:
        self._sheet.auto_filter.ref = f"A1:{self._last_column}{self._rows}"
        self._book.save(self._out.file)
