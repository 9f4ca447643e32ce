"""batch_ims.transport.fdlimit: the soft RLIMIT_NOFILE raised as far as needed, never past
the hard limit; what does not fit lowers the ceiling, with one event saying why."""

from __future__ import annotations

import resource

from structlog.testing import capture_logs

from batch_ims.transport.fdlimit import (
    RESERVE,
    DescriptorBudget,
    descriptor_budget,
    fit_ceiling,
    reserved,
)

_NOFILE = resource.RLIMIT_NOFILE
_UNLIMITED = resource.RLIM_INFINITY


class _Limits:
    """getrlimit/setrlimit over a fake limit; `allowed` False: setrlimit refuses."""

    def __init__(self, soft: int, hard: int, *, allowed: bool = True) -> None:
        self.soft, self.hard, self.allowed = soft, hard, allowed
        self.calls: list[tuple[int, int]] = []

    def get(self, which: int) -> tuple[int, int]:
        assert which == _NOFILE
        return self.soft, self.hard

    def set(self, which: int, limits: tuple[int, int]) -> None:
        assert which == _NOFILE
        self.calls.append(limits)
        if not self.allowed:
            raise ValueError("not allowed to raise the soft limit")
        self.soft = limits[0]


def _budget(wanted: int, limits: _Limits, in_use: int = 10) -> DescriptorBudget:
    return descriptor_budget(
        wanted, get_limit=limits.get, set_limit=limits.set, in_use=lambda: in_use
    )


def test_enough_descriptors_leave_the_limit_alone() -> None:
    limits = _Limits(4096, 4096)

    assert _budget(256, limits) == DescriptorBudget(256, 4096, 4096, None)
    assert limits.calls == []


def test_the_soft_limit_is_raised_as_far_as_needed_below_the_hard_one() -> None:
    limits = _Limits(256, 65536)

    budget = _budget(256, limits, in_use=10)

    assert limits.calls == [(256 + 10 + RESERVE, 65536)]
    assert budget == DescriptorBudget(256, 256 + 10 + RESERVE, 65536, raised_from=256)


def test_a_hard_limit_too_low_caps_the_connections_at_what_fits() -> None:
    limits = _Limits(64, 128)

    budget = _budget(256, limits, in_use=10)

    assert budget == DescriptorBudget(128 - 10 - RESERVE, 128, 128, raised_from=64)


def test_a_refused_raise_keeps_the_soft_limit_and_fits_within_it() -> None:
    limits = _Limits(64, 4096, allowed=False)

    budget = _budget(256, limits, in_use=10)

    assert budget == DescriptorBudget(64 - 10 - RESERVE, 64, 4096, raised_from=None)


def test_no_room_at_all_still_leaves_one_connection() -> None:
    assert _budget(8, _Limits(20, 20), in_use=15).connections == 1


def test_an_unlimited_soft_limit_fits_everything() -> None:
    limits = _Limits(_UNLIMITED, _UNLIMITED)

    assert _budget(256, limits).connections == 256
    assert limits.calls == []


def test_a_ceiling_that_does_not_fit_is_lowered_and_says_why_once() -> None:
    budget = DescriptorBudget(connections=22, soft=64, hard=64, raised_from=None)

    with capture_logs() as logs:
        fitted = fit_ceiling(200, "--concurrency", budget)

    assert fitted == (22, "RLIMIT_NOFILE")
    assert [log["event"] for log in logs] == ["concurrency.capped"]
    assert {k: logs[0][k] for k in ("concurrency", "asked", "asked_by", "reason", "soft")} == {
        "concurrency": 22,
        "asked": 200,
        "asked_by": "--concurrency",
        "reason": "RLIMIT_NOFILE",
        "soft": 64,
    }


def test_a_ceiling_that_fits_is_kept_silently() -> None:
    with capture_logs() as logs:
        fitted = fit_ceiling(8, "--concurrency", DescriptorBudget(8, 1024, 1024, None))

    assert fitted == (8, "--concurrency")
    assert logs == []


def test_connections_another_session_reserved_count_as_taken() -> None:
    limits = _Limits(1024, 1024)

    with reserved(600):
        budget = _budget(600, limits, in_use=10)
    after = _budget(600, _Limits(1024, 1024), in_use=10)

    assert budget.connections == 1024 - 10 - RESERVE - 600
    assert after.connections == 600
