"""structlog set-up: JSON lines off a terminal, readable lines on one; secrets redacted here.

Redaction lives in this one place: any field whose name looks secret is masked, and any
registered secret value is cut out of every field, whatever its name, nested values and
formatted tracebacks included; the report, journal and summary use `redact_data` too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from batch_ims.models import utc_now_text

_SECRET_KEYS = ("secret", "password", "token", "authorization", "sk", "signature")
_registered: set[str] = set()
_configured_format: str | None = None
REDACTED = "***"


def register_secret(value: str | None) -> None:
    """Make sure `value` never reaches a log line (only values of 4+ characters)."""
    if value and len(value) >= 4:
        _registered.add(value)


def redact_text(text: str) -> str:
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_data(value: Any) -> Any:
    """`value` with every registered secret cut out of its text, nested values included."""
    if not _registered:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


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
    registered = bool(_registered)
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
    return _JSON.encode(event_dict)


def _timestamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """UTC ISO time with milliseconds; the date part is formatted once a second."""
    event_dict["timestamp"] = utc_now_text()
    return event_dict


class _SafeWriter:
    """structlog's logger: one flushed line per event; a closed stderr (`| head`) is not fatal.

    Losing log lines must never lose report rows: the report and journal are the record.
    """

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def msg(self, message: str) -> None:
        try:
            self._file.write(message + "\n")
            self._file.flush()
        except (OSError, ValueError):
            pass  # nobody is reading stderr any more

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


class _SafeWriterFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _SafeWriter:
        return _SafeWriter(self._file)


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
    global _configured_format
    out = stream if stream is not None else sys.stderr
    chosen = resolve_format(log_format, out)
    _configured_format = chosen
    renderer: Any
    people: list[Any] = []
    if chosen == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_serialize)
    else:
        people = [for_people]
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
        if out.isatty():
            renderer = _ClearLine(renderer)
    level = logging.DEBUG if verbose else logging.INFO
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
        logger_factory=_SafeWriterFactory(out),
        cache_logger_on_first_use=False,
    )
    return chosen
