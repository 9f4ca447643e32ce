"""File descriptors: every connection in flight holds one, and the process has RLIMIT_NOFILE.

Before a session opens, the soft limit is raised as far as its connections need (never past
the hard limit, which only root may raise); when even that is too few, the ceiling on
requests in flight is lowered to what fits, and one event says why. Running out of
descriptors mid-run would otherwise look like an endpoint that cannot be reached.
The limit is the process's: sessions opened side by side (one per target) share it, so
each reserves its connections (`reserved`) and the next one's budget counts them.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog

RESERVE = 32  # descriptors kept for everything else: outputs, logs, DNS, TLS, the loop
_NOFILE = resource.RLIMIT_NOFILE
_UNLIMITED = resource.RLIM_INFINITY
_log = structlog.get_logger("batch_ims")

GetLimit = Callable[[int], tuple[int, int]]
SetLimit = Callable[[int, tuple[int, int]], None]


@dataclass(frozen=True, slots=True)
class DescriptorBudget:
    """How many connections fit, and the limit they were fitted into."""

    connections: int
    soft: int  # RLIMIT_NOFILE's soft limit once raised (RLIM_INFINITY: none)
    hard: int
    raised_from: int | None  # the soft limit before this process raised it


def open_descriptors() -> int:
    """Descriptors this process holds now (Linux, then the BSDs' /dev/fd; else a guess)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return RESERVE


class _Reservations:
    """Connections the sessions open in this process may hold, not yet all opened."""

    def __init__(self) -> None:
        self.connections = 0


_RESERVATIONS = _Reservations()


@contextmanager
def reserved(connections: int) -> Iterator[None]:
    """Count `connections` against the limit while a session may open them."""
    _RESERVATIONS.connections += connections
    try:
        yield
    finally:
        _RESERVATIONS.connections -= connections


def descriptor_budget(
    wanted: int,
    *,
    get_limit: GetLimit = resource.getrlimit,
    set_limit: SetLimit = resource.setrlimit,
    in_use: Callable[[], int] = open_descriptors,
) -> DescriptorBudget:
    """Raise the soft limit towards `wanted` connections' worth; what fits, at most `wanted`.

    Descriptors held now and connections other sessions reserved are counted as taken."""
    soft, hard = get_limit(_NOFILE)
    held = in_use() + RESERVE + _RESERVATIONS.connections
    raised_from = None
    if soft != _UNLIMITED and soft < wanted + held:
        new = wanted + held if hard == _UNLIMITED else min(hard, wanted + held)
        if new > soft:
            try:
                set_limit(_NOFILE, (new, hard))
            except (ValueError, OSError):
                pass
            else:
                raised_from, soft = soft, new
    fits = wanted if soft == _UNLIMITED else max(1, min(wanted, soft - held))
    return DescriptorBudget(fits, soft, hard, raised_from)


def fit_ceiling(ceiling: int, source: str, budget: DescriptorBudget) -> tuple[int, str]:
    """The ceiling on requests in flight within `budget`, and where it comes from; logged."""
    if budget.raised_from is not None:
        _log.info("fds.raised", soft_was=budget.raised_from, soft=budget.soft, hard=budget.hard)
    if budget.connections >= ceiling:
        return ceiling, source
    _log.warning(
        "concurrency.capped",
        concurrency=budget.connections,
        asked=ceiling,
        asked_by=source,
        reason="RLIMIT_NOFILE",
        soft=budget.soft,
        hard=budget.hard,
        advice="raise the hard limit (ulimit -Hn, systemd LimitNOFILE, a container's nofile)",
    )
    return budget.connections, "RLIMIT_NOFILE"
