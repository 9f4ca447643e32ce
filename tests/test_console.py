"""batch_ims.console: controls shown as escapes, Chinese as it is, JSON lines still JSON."""

from __future__ import annotations

import json

from batch_ims.console import json_line, shown, shown_lines


def test_controls_are_escaped_and_chinese_is_not() -> None:
    text = "\x1b]0;pwned\x07镜像名称\x1b[2J\t\n\x7f\x9b\u2028\u2029\u202e"

    assert shown(text) == (
        "\\x1b]0;pwned\\x07镜像名称\\x1b[2J\\x09\\x0a\\x7f\\x9b\\u2028\\u2029\\u202e"
    )


def test_shown_lines_keeps_newlines_and_tabs() -> None:
    assert shown_lines("a\n\tb\x1bc") == "a\n\tb\\x1bc"


def test_a_json_line_escapes_what_json_leaves_raw_and_reads_back_the_same() -> None:
    value = {"message": "\x9b31m\u2028镜像名称\x1b"}
    line = json_line(json.dumps(value, ensure_ascii=False))

    assert [c for c in ("\x9b", "\u2028") if c in line] == []
    assert "镜像名称" in line
    assert json.loads(line) == value
