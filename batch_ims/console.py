"""Text for a terminal: control characters shown as escapes, never sent raw.

A manifest cell or a server's answer may carry terminal controls: an OSC sequence that sets
the window title (`\\x1b]0;...\\x07`), a clear screen (`\\x1b[2J`), 8-bit C1 controls, line
and paragraph separators (U+2028/2029), bidirectional overrides that reorder what is shown.
`shown` writes every one of them as an escape (`\\x1b`, `\\u2028`): C0 (newline and tab
included: a value never starts a line of its own), DEL, C1 and those. Chinese and every
other printable text passes as it is.

JSON lines escape C0 themselves; `json_line` also escapes the rest (C1, U+2028/2029, bidi
controls) as `\\uXXXX`, which is the same string to any JSON reader.
"""

from __future__ import annotations

__all__ = ["json_line", "shown", "shown_lines"]

_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
_WIDE = (*range(0x80, 0xA0), 0x2028, 0x2029, *_BIDI)  # beyond what JSON escapes
_CONTROLS = (*range(0x20), 0x7F, *_WIDE)


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_SHOWN = {code: _escape(code) for code in _CONTROLS}
_LINES = {code: text for code, text in _SHOWN.items() if code not in (0x09, 0x0A)}
_JSON = {code: f"\\u{code:04x}" for code in _WIDE}


def shown(text: str) -> str:
    """`text` safe for a terminal, on one line."""
    return text.translate(_SHOWN)


def shown_lines(text: str) -> str:
    """`text` safe for a terminal, its newlines and tabs kept (a formatted traceback)."""
    return text.translate(_LINES)


def json_line(line: str) -> str:
    """An encoded JSON line with the controls JSON leaves raw escaped (the same JSON)."""
    return line.translate(_JSON)
