"""The one owner of "stopping": signals, the failure threshold, fatal authentication errors,
an unreachable endpoint (the image service's or the sign-in's).

Everything that must not send after a stop asks `stopping`; everything that waits uses
`pause`, which wakes when the run stops. The reason decides the exit code.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

from batch_ims.exitcodes import ExitCode
from batch_ims.models import Outcome, Status
from batch_ims.settings import StopPolicy
from batch_ims.stats import RunStats


class StopReason(StrEnum):
    SIGINT = "sigint"
    SIGTERM = "sigterm"
    FAILURE_THRESHOLD = "failure_threshold"
    AUTH = "auth"
    UNREACHABLE = "unreachable"
    OUTPUT = "output_failed"


_EXIT_CODES = {
    StopReason.SIGINT: ExitCode.SIGINT,
    StopReason.SIGTERM: ExitCode.SIGTERM,
    StopReason.FAILURE_THRESHOLD: ExitCode.ABORTED,
    StopReason.AUTH: ExitCode.ABORTED,
    StopReason.UNREACHABLE: ExitCode.UNREACHABLE,
    StopReason.OUTPUT: ExitCode.OUTPUT_FAILED,
}


class SignalEffect(StrEnum):
    STOP = "stopping; in-flight may finish"
    SAME = "same stop: a repeat of the first SIGTERM"
    CANCEL = "cancelling in-flight now"


class RunStop:
    def __init__(self, policy: StopPolicy) -> None:
        self.policy = policy
        self.reason: StopReason | None = None
        self.finished = 0
        self.failed = 0
        self._auth_streak = 0
        self._unreachable_streak = 0
        self.last_auth_failure: Outcome | None = None
        self.last_unreachable = ""
        self._first_signal: tuple[StopReason, float] | None = None
        self._event = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self.reason is not None

    def stop(self, reason: StopReason) -> bool:
        """Ask the run to stop; the first reason given is the one that counts."""
        if self.reason is not None:
            return False
        self.reason = reason
        self._event.set()
        return True

    def signalled(self, reason: StopReason, now: float) -> SignalEffect:
        """A SIGINT/SIGTERM arrived at `now` (monotonic seconds): what it does.

        The first stops the run (or joins a stop under way). A SIGTERM within
        `same_signal_window_s` of a first SIGTERM is the same stop: `timeout`, Kubernetes and
        systemd may send it to the process and then to its group, milliseconds apart. Any
        other repeat (a later SIGTERM, SIGINT twice) cancels what is in flight.
        """
        first = self._first_signal
        if first is None:
            self._first_signal = (reason, now)
            self.stop(reason)
            return SignalEffect.STOP
        first_reason, first_at = first
        if (
            reason is StopReason.SIGTERM
            and first_reason is StopReason.SIGTERM
            and now - first_at < self.policy.same_signal_window_s
        ):
            return SignalEffect.SAME
        return SignalEffect.CANCEL

    async def wait(self) -> None:
        await self._event.wait()

    async def pause(self, seconds: float) -> bool:
        """Sleep `seconds`, waking early when the run stops; True when it stopped."""
        if self.reason is not None:
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout=seconds)
        except TimeoutError:
            return self.reason is not None
        return True

    def observe(self, outcome: Outcome, *, auth_failure: bool) -> StopReason | None:
        """Count a finished image; returns a reason when this outcome should stop the run."""
        if outcome.status in (Status.ABORTED, Status.INVALID, Status.SKIPPED, Status.DRIFTED):
            return None
        self.finished += 1
        if outcome.status is Status.FAILED:
            self.failed += 1
        if self._auth(outcome, auth_failure) and self.stop(StopReason.AUTH):
            return StopReason.AUTH
        if (
            self.finished >= self.policy.min_finished
            and self.failed / self.finished > self.policy.max_failure_rate
            and self.stop(StopReason.FAILURE_THRESHOLD)
        ):
            return StopReason.FAILURE_THRESHOLD
        return None

    def _auth(self, outcome: Outcome, auth_failure: bool) -> bool:
        """True when the auth failures in a row reached the limit."""
        if not auth_failure:  # "in a row": any other answer breaks the streak
            self._auth_streak = 0
            return False
        self._auth_streak += 1
        self.last_auth_failure = outcome
        return self._auth_streak >= self.policy.auth_failure_limit

    def request_ended(self, *, answered: bool, detail: str = "") -> bool:
        """Count one request; True when this one stopped the run (endpoint unreachable).

        Requests that got no answer count: those that could not connect, and those that
        connected but timed out (a black-holed endpoint accepts and never answers). Any
        answer breaks the streak. What failed on this side (out of file descriptors) is
        not the endpoint's doing and is not counted at all.
        """
        if answered:
            self._unreachable_streak = 0
            return False
        self._unreachable_streak += 1
        self.last_unreachable = detail
        return self._unreachable_streak >= self.policy.unreachable_limit and self.stop(
            StopReason.UNREACHABLE
        )

    def sign_in_unreachable(self, host: str, reason: str) -> bool:
        """The sign-in endpoint gave no answer: the run stops as for an unreachable endpoint."""
        if self.reason is None:
            self.last_unreachable = f"{host}: {reason}"
        return self.stop(StopReason.UNREACHABLE)

    def exit_code(self, stats: RunStats) -> ExitCode:
        if self.reason is not None:
            return _EXIT_CODES[self.reason]
        unapplied = (Status.FAILED.value, Status.INVALID.value, Status.DRIFTED.value)
        if any(stats.counts.get(status) for status in unapplied):
            return ExitCode.SOME_FAILED
        return ExitCode.OK
