"""Cells a spreadsheet would run as a formula, and the apostrophe that makes them text.

Excel and LibreOffice run a CSV cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return as a formula (OWASP: CSV injection). The report shows such a cell with a leading
apostrophe (`neutralise`). The undo manifest, which batch-ims reads back, marks them the
same way but reversibly (`mark`): a value that already starts with apostrophes before such a
character gets one more, and the manifest reader drops one (`unmark`), so every value
round-trips exactly.
"""

from __future__ import annotations

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Make a cell inert for spreadsheets (the report's rule)."""
    if cell and cell.startswith(TRIGGERS):
        return "'" + cell
    return cell


def _marked(value: str) -> bool:
    return value[:1] == "'" and value.lstrip("'").startswith(TRIGGERS)


def mark(value: str) -> str:
    """`value` inert for spreadsheets, and read back as `value` by `unmark`."""
    return "'" + value if value.startswith(TRIGGERS) or _marked(value) else value


def unmark(value: str) -> str:
    """The value `mark` wrote: one apostrophe fewer before = + - @ tab or CR."""
    return value[1:] if _marked(value) else value
