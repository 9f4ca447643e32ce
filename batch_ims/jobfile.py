"""Job files: TOML whose keys are `run`'s long options (`max-attempts = 5`) plus `manifest`.

Relative paths resolve against the job file's folder, not the working directory, because
cron starts jobs in $HOME.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_ims.configfile import read_trusted
from batch_ims.errors import UsageError
from batch_ims.settings import (
    PATH_SETTINGS,
    TEMPLATED_SETTINGS,
    RunSettings,
    Shard,
    expand_template,
)

_NOT_IN_JOB_FILES: frozenset[str] = frozenset()
_FIELD_TYPES = typing.get_type_hints(RunSettings)


def _expected(name: str) -> tuple[type, ...]:
    hint = _FIELD_TYPES[name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    kinds: list[type] = []
    for arg in args:
        if arg is type(None):
            continue
        if arg in (Path, Shard):
            kinds.append(str)
        elif arg is float:
            kinds.extend([float, int])
        else:
            kinds.append(arg)
    return tuple(kinds)


def _check_type(path: Path, key: str, name: str, value: Any) -> None:
    kinds = _expected(name)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        wanted = " or ".join(sorted({k.__name__ for k in kinds}))
        raise UsageError(f"{path}: key {key!r} must be {wanted}, not {type(value).__name__}")


def _read(path: Path) -> dict[str, Any]:
    """The job file's TOML, read only when its owner and mode are trusted (`configfile`)."""
    try:
        text = read_trusted(path, what="job file").data.decode("utf-8")
        return tomllib.loads(text)
    except FileNotFoundError as exc:
        raise UsageError(f"job file {str(path)!r} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"job file {str(path)!r}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"job file {str(path)!r}: not UTF-8 text (TOML files are UTF-8)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"job file {str(path)!r}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise UsageError(
            f"job file {str(path)!r}: arrays or tables nested too deeply; a job file's "
            "values are flat (strings, numbers, booleans)"
        ) from None


def load_job(path: Path, *, now: datetime | None = None) -> dict[str, Any]:
    """The job file's settings, keyed by setting name, paths made absolute.

    strftime fields of output paths (`report = "out/nightly-%Y%m%d.csv"`) are expanded as
    written, before the path is joined to the job file's folder (whose name may hold a `%`);
    such paths come back as `Path`, already expanded.
    """
    now = now or datetime.now(UTC)
    data = _read(path)
    known = {f.name for f in dataclasses.fields(RunSettings)} - _NOT_IN_JOB_FILES
    base = path.resolve().parent
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known or "_" in key:
            valid = ", ".join(sorted(n.replace("_", "-") for n in known))
            raise UsageError(f"{path}: unknown key {key!r}; valid keys: {valid}")
        _check_type(path, key, name, value)
        if name in TEMPLATED_SETTINGS:
            value = base / Path(expand_template(value, now, name=name)).expanduser()
        elif name in PATH_SETTINGS:
            value = str(base / Path(value).expanduser())
        values[name] = value
    return values
