"""structlog set-up: JSON lines off a terminal, readable lines on one; secrets redacted here.

Redaction lives in this one place: any field whose name looks secret is masked, and any
registered secret value (`batch_ims.redaction`: in every form a server may echo it, and any
8 characters of it in a row) is cut out of every field, whatever its name, nested values
and formatted tracebacks included; the report, journal and summary use `redact_data` too.

Lines reach the stream through one `LineSink`. Most events are written (and flushed) as they
happen; the run's per-image success events are `hold`-ed and written together by `flush`,
which the progress tick calls, which every other event does first (lines stay in order),
and which runs at exit. Each line is whole: held lines never split one.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from batch_ims import redaction
from batch_ims.console import json_line, shown_lines
from batch_ims.models import utc_now_text
from batch_ims.redaction import REDACTED, redact_data, redact_text

__all__ = [
    "REDACTED",
    "LineSink",
    "configure",
    "configured_format",
    "enabled",
    "flush",
    "for_people",
    "for_terminal",
    "json_sink",
    "redact_data",
    "redact_text",
    "register_secret",
    "resolve_format",
]

_SECRET_KEYS = ("secret", "password", "token", "authorization", "sk", "signature")
_configured_format: str | None = None


def register_secret(value: str | None) -> None:
    """Make sure `value` (4+ characters), in any form or part, never reaches a log line."""
    redaction.register(value)


_key_verdicts: dict[str, bool] = {}


def _is_secret_key(key: str) -> bool:
    verdict = _key_verdicts.get(key)
    if verdict is None:
        lowered = key.lower()
        verdict = key != "event" and (
            lowered in _SECRET_KEYS
            or any(part in lowered for part in ("secret", "password", "token", "authorization"))
        )
        _key_verdicts[key] = verdict
    return verdict


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Runs after tracebacks are formatted: their text is redacted like any other field."""
    registered = redaction.has_secrets()
    for key, value in event_dict.items():
        if _key_verdicts.get(key, True) and _is_secret_key(key):
            event_dict[key] = REDACTED
        elif registered and value.__class__ is not int:
            event_dict[key] = redact_data(value if _plain(value) else repr(value))
    return event_dict


def _plain(value: Any) -> bool:
    """Values the renderers show as they are (anything else is shown as its repr)."""
    return value is None or isinstance(value, str | int | float | bool | dict | list | tuple)


_JSON = json.JSONEncoder(ensure_ascii=False, default=repr)


def _serialize(event_dict: Any, **_: Any) -> str:
    """One prebuilt encoder: json.dumps would build a new one for every event."""
    return json_line(_JSON.encode(event_dict))


def _timestamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """UTC ISO time with milliseconds; the date part is formatted once a second."""
    event_dict["timestamp"] = utc_now_text()
    return event_dict


class LineSink:
    """The log stream: lines written at once or held until `flush`; a closed stderr
    (`| head`) is not fatal. Losing log lines must never lose report rows: the report and
    journal are the record."""

    MAX_HELD = 4096  # held lines written anyway beyond this (no tick: memory stays bounded)

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._held: list[str] = []

    def hold(self, line: str) -> None:
        """Keep `line` (no newline) for the next flush."""
        self._held.append(line)
        if len(self._held) >= self.MAX_HELD:
            self.flush()

    def write(self, line: str) -> None:
        """Write the held lines, then `line`, in one write, and flush."""
        if self._held:
            self._held.append(line)
            self._emit()
        else:
            self._put(line + "\n")

    def flush(self) -> None:
        if self._held:
            self._emit()

    def _emit(self) -> None:
        held, self._held = self._held, []
        held.append("")
        self._put("\n".join(held))

    def _put(self, text: str) -> None:
        try:
            self._file.write(text)
            self._file.flush()
        except (OSError, ValueError):
            pass  # nobody is reading stderr any more


_sink: LineSink | None = None
_level = logging.INFO


def enabled(level: int) -> bool:
    """Whether events of `level` (logging.INFO, ...) are written at all."""
    return level >= _level


def json_sink() -> LineSink | None:
    """The sink, for pre-rendered JSON event lines to `hold`; None unless the logs are JSON."""
    return _sink if _configured_format == "json" else None


def flush() -> None:
    """Write the held lines (the progress tick, the end of a run, exit)."""
    if _sink is not None:
        _sink.flush()


atexit.register(flush)


class _SafeWriter:
    """structlog's logger: one line per event through the sink."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink

    def msg(self, message: str) -> None:
        self._sink.write(message)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


class _SafeWriterFactory:
    def __init__(self, sink: LineSink) -> None:
        self._sink = sink

    def __call__(self, *args: Any) -> _SafeWriter:
        return _SafeWriter(self._sink)


class _ClearLine:
    """Start each console line by clearing the terminal line (the progress bar redraws)."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
        return "\r\x1b[K" + str(self._renderer(logger, name, event_dict))


def for_people(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Console only: nested values as `(key: value, ...)` rather than Python reprs."""
    for key, value in event_dict.items():
        if isinstance(value, dict):
            event_dict[key] = "(" + ", ".join(f"{k}: {v}" for k, v in value.items()) + ")"
    return event_dict


class _Quoted:
    """A text the console renderer shows as its repr: quoted, every character that is not
    printable (C0, C1, U+2028/2029, bidi controls) escaped; Chinese shown as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return repr(self.text)


def for_terminal(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Console only, last before rendering: a text field holding a control character is
    shown quoted with it escaped (the renderer shows other texts without quotes), and the
    traceback keeps its lines; so no server answer or manifest cell drives the terminal."""
    for key, value in event_dict.items():
        if isinstance(value, str) and not value.isprintable():
            event_dict[key] = shown_lines(value) if key == "exception" else _Quoted(value)
    return event_dict


def configured_format() -> str | None:
    """ "json" or "console" once `configure` ran, else None."""
    return _configured_format


def resolve_format(log_format: str, stream: TextIO) -> str:
    if log_format != "auto":
        return log_format
    return "console" if stream.isatty() else "json"


def configure(
    *, log_format: str = "auto", verbose: bool = False, stream: TextIO | None = None
) -> str:
    """Configure structlog for the process; returns the format chosen (json or console)."""
    global _configured_format, _sink, _level
    out = stream if stream is not None else sys.stderr
    chosen = resolve_format(log_format, out)
    flush()  # lines held for the previous stream go there
    _configured_format = chosen
    _sink = LineSink(out)
    renderer: Any
    people: list[Any] = []
    if chosen == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_serialize)
    else:
        people = [for_people, for_terminal]
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
        if out.isatty():
            renderer = _ClearLine(renderer)
    level = logging.DEBUG if verbose else logging.INFO
    _level = level
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            _timestamp,
            structlog.processors.format_exc_info,
            _redact,
            *people,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_SafeWriterFactory(_sink),
        cache_logger_on_first_use=False,
    )
    return chosen
