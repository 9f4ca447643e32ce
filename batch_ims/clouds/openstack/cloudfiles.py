"""Which clouds.yaml, secure.yaml and clouds-public.yaml openstacksdk's loader may read: for
each, the first file that exists in the loader's own search order (`OS_CLIENT_CONFIG_FILE` or
`OS_CLIENT_SECURE_FILE` first, then `./`, `~/.config/openstack/`, `/etc/openstack/`), vetted
before the loader sees it.

The loader reads `./clouds.yaml` before the user's own and merges `secure.yaml` into it, so a
file another user planted in a shared working folder would take over the cloud and receive its
password. Each file the loader would read must therefore be trusted (`configfile`: owned by you
or root, not writable by group or others) and bounded before it is parsed (at most 1 MiB,
`MAX_DEPTH` levels, `MAX_NODES` values with aliases expanded: a one-kilobyte alias bomb would
otherwise take gigabytes in the loader's merge); else UsageError, exit 2. The vetted lists go
to `OpenStackConfig(config_files=..., secure_files=..., vendor_files=...)`; nothing of
openstacksdk is patched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from batch_ims.configfile import read_trusted
from batch_ims.errors import UsageError

WHAT = "OpenStack config file"
MAX_DEPTH = 32  # clouds.yaml nests 4 or 5 levels
MAX_NODES = 100_000  # values, aliases expanded; a clouds.yaml has a few hundred
_CONFIG_ENV = "OS_CLIENT_CONFIG_FILE"
_SECURE_ENV = "OS_CLIENT_SECURE_FILE"


@dataclass(frozen=True, slots=True)
class CloudFiles:
    """The files the loader may read: at most one of each kind, all vetted."""

    config: list[str]
    secure: list[str]
    vendor: list[str]


class _Unbounded(Exception):
    """The document nests deeper or expands to more values than a cloud config may."""


class _BoundedLoader(yaml.SafeLoader):
    """Composes the node graph (nothing is constructed), refusing documents nested deeper than
    `MAX_DEPTH` before Python's recursion limit could be reached, or with more than
    `MAX_NODES` nodes before they are all held."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Unbounded(f"nested deeper than {MAX_DEPTH} levels")
            if self._nodes > MAX_NODES:
                raise _Unbounded(f"holds more than {MAX_NODES:,} values")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values `node` stands for once every alias is copied out, as the loader's merge
    copies them; shared nodes are counted once per use but computed once."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise _Unbounded("an alias refers to a value that contains it")
    open_.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes, open_) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            size += _expanded_size(name, sizes, open_) + _expanded_size(value, sizes, open_)
    open_.discard(key)
    sizes[key] = size
    if size > MAX_NODES:
        raise _Unbounded(f"expands to more than {MAX_NODES:,} values (aliases copied out)")
    return size


def _check_yaml(text: str) -> None:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        _expanded_size(node, {}, set())


def _check_json(text: str) -> None:
    try:
        document = json.loads(text)
    except RecursionError:
        raise _Unbounded(f"nested deeper than {MAX_DEPTH} levels") from None
    pending: list[tuple[Any, int]] = [(document, 1)]
    count = 0
    while pending:
        value, depth = pending.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise _Unbounded(f"nested deeper than {MAX_DEPTH} levels")
        if count > MAX_NODES:
            raise _Unbounded(f"holds more than {MAX_NODES:,} values")
        if isinstance(value, dict):
            pending.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            pending.extend((child, depth + 1) for child in value)


def _problem(error: Exception) -> str:
    """A parse error without the snippet of the file it quotes (it may hold a password)."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"not valid YAML ({error.problem or error.context or 'syntax error'}{where})"
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON ({error.msg} at line {error.lineno})"
    return f"not valid ({type(error).__name__})"


def _vet(path: Path) -> bool:
    """True when `path` may be read; False when it is absent or unreadable (the loader skips
    those too); UsageError when it is untrusted, too big, unbounded or malformed."""
    try:
        data = read_trusted(path, what=WHAT).data
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        return False
    except OSError as error:
        raise UsageError(f"{WHAT} {path}: cannot read: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
        (_check_json if path.name.endswith("json") else _check_yaml)(text)
    except _Unbounded as error:
        raise UsageError(f"{WHAT} {path} {error}: refused") from None
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise UsageError(f"{WHAT} {path}: {_problem(error)}") from None
    return True


def _first(override: str | None, candidates: Sequence[str]) -> list[str]:
    for name in ([override] if override else []) + list(candidates):
        if _vet(Path(name)):
            return [name]
    return []


def vetted_files(env: Mapping[str, str] | None = None) -> CloudFiles:
    """The files openstacksdk's loader would read, vetted (see the module)."""
    from openstack.config import loader

    env = os.environ if env is None else env
    return CloudFiles(
        config=_first(env.get(_CONFIG_ENV), loader.CONFIG_FILES),
        secure=_first(env.get(_SECURE_ENV), loader.SECURE_FILES),
        vendor=_first(None, loader.VENDOR_FILES),
    )
