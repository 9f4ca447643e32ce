"""When to stop dispatching: signals, the failure threshold, fatal authentication errors.

Pure bookkeeping over finished outcomes; the runner asks `stopping` before it sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from batch_ims.models import Outcome, Status


class StopReason(StrEnum):
    SIGINT = "sigint"
    SIGTERM = "sigterm"
    FAILURE_THRESHOLD = "failure_threshold"
    AUTH = "auth"


@dataclass(frozen=True, slots=True)
class StopPolicy:
    max_failure_rate: float = 0.5  # failed/finished above this stops the run ...
    min_finished: int = 100  # ... once this many images have finished
    auth_failure_limit: int = 5  # consecutive auth/permission failures that stop the run


class RunControl:
    def __init__(self, policy: StopPolicy) -> None:
        self.policy = policy
        self.reason: StopReason | None = None
        self.finished = 0
        self.failed = 0
        self._auth_streak = 0
        self.last_auth_failure: Outcome | None = None

    @property
    def stopping(self) -> bool:
        return self.reason is not None

    def stop(self, reason: StopReason) -> bool:
        """Ask the run to stop; the first reason given is the one that counts."""
        if self.reason is None:
            self.reason = reason
            return True
        return False

    def observe(self, outcome: Outcome, *, auth_failure: bool) -> StopReason | None:
        """Count a finished image; returns a reason when this outcome should stop the run."""
        if outcome.status in (Status.ABORTED, Status.INVALID, Status.SKIPPED):
            return None
        self.finished += 1
        if outcome.status is Status.FAILED:
            self.failed += 1
        if auth_failure:
            self._auth_streak += 1
            self.last_auth_failure = outcome
            if self._auth_streak >= self.policy.auth_failure_limit and self.stop(StopReason.AUTH):
                return StopReason.AUTH
        else:  # "in a row": any other answer breaks the streak
            self._auth_streak = 0
        if (
            self.finished >= self.policy.min_finished
            and self.failed / self.finished > self.policy.max_failure_rate
            and self.stop(StopReason.FAILURE_THRESHOLD)
        ):
            return StopReason.FAILURE_THRESHOLD
        return None
