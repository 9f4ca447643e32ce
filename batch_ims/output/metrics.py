"""Prometheus metrics of one run: a textfile for node_exporter, or a push to a Pushgateway.

Every run builds its own `CollectorRegistry` from a `RunMetrics` value; nothing is kept
in the process-wide default registry. All metrics are gauges describing the last run of
one job (label `job`, plus `shard` for a sharded run):

    batch_ims_last_run_start_timestamp_seconds
    batch_ims_last_run_end_timestamp_seconds
    batch_ims_last_success_timestamp_seconds   (end of the last run that exited 0)
    batch_ims_last_run_duration_seconds
    batch_ims_last_run_images{status}           (succeeded, failed, invalid, skipped, aborted)
    batch_ims_last_run_requests{kind}
    batch_ims_last_run_retries
    batch_ims_last_run_throttled
    batch_ims_last_run_exit_code

A run that did not exit 0 keeps the previous success time: read back from the existing
textfile, or left alone on the Pushgateway (the push replaces only the metrics it sends).
Writing and pushing never raise: metrics must not change a run's outcome or exit code.

The textfile is one of the run's outputs (`batch_ims.output.files`): checked with the
others before anything is sent (never the same file as another output, never through a
symbolic link, never another user's file), claimed and locked for the whole run, written
whole. Its mode is 0644 (`TEXTFILE_MODE`), on purpose: node_exporter runs as its own user
and must read it, and it holds only counts and times.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import structlog

from batch_ims.errors import LockedError, OutputWriteError, UsageError
from batch_ims.models import Status
from batch_ims.output.files import OutputFile, open_live

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from batch_ims.output.summary import Summary

# prometheus_client is imported by the functions that write or push: a run without
# --metrics-file or --pushgateway does not load it.

PREFIX = "batch_ims_"
LAST_SUCCESS = PREFIX + "last_success_timestamp_seconds"
DEFAULT_JOB = "batch_ims"
PUSH_TIMEOUT_S = 5.0
TEXTFILE_LABEL = "--metrics-file"
TEXTFILE_MODE = 0o644  # node_exporter, another user, reads it; it holds no secret

# the signature of prometheus_client's push handlers (`default_handler` and friends)
PushHandler = Callable[..., Callable[[], None]]

_log = structlog.get_logger("batch_ims.metrics")


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """What one run reports to Prometheus. Times are epoch seconds."""

    job: str
    started_at: float
    finished_at: float
    exit_code: int
    counts: Mapping[str, int] = field(default_factory=dict)
    requests: Mapping[str, int] = field(default_factory=dict)  # by kind: "get", "patch"
    retries: int = 0
    throttled: int = 0
    shard: str | None = None  # "K/N"
    targets: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # several targets

    def __post_init__(self) -> None:
        if not self.job:
            raise ValueError("the metrics job name must not be empty")
        all_counts = {status.value: int(self.counts.get(status.value, 0)) for status in Status}
        object.__setattr__(self, "counts", MappingProxyType(all_counts))
        object.__setattr__(self, "requests", MappingProxyType(dict(self.requests)))

    @classmethod
    def from_summary(
        cls,
        summary: Summary,
        *,
        job: str,
        started_at: float,
        finished_at: float,
        shard: str | None = None,
    ) -> RunMetrics:
        """The metrics of a run that produced `summary` (its exit code included)."""
        return cls(
            job=job,
            started_at=started_at,
            finished_at=finished_at,
            exit_code=summary.exit_code,
            counts=summary.counts,
            requests={m.lower(): n for m, n in summary.requests_by_method.items()},
            retries=summary.retries,
            throttled=summary.throttled,
            shard=shard,
            targets=summary.targets,
        )

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @property
    def duration_s(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    def labels(self) -> dict[str, str]:
        """The labels every metric carries; also the Pushgateway grouping key."""
        found = {"job": self.job}
        if self.shard is not None:
            found["shard"] = self.shard
        return found


def job_name(*, metrics_job: str | None, job_file: Path | None) -> str:
    """The `job` label: `--metrics-job`, else the job file's name, else `batch_ims`."""
    if metrics_job:
        return metrics_job
    if job_file is not None:
        return job_file.stem
    return DEFAULT_JOB


def build_registry(metrics: RunMetrics, *, last_success: float | None = None) -> CollectorRegistry:
    """A fresh registry holding `metrics`.

    The success time is this run's end when it exited 0, else `last_success` (an earlier
    run's); when neither is known the metric is left out rather than set to a made-up time.
    """
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry(auto_describe=True)
    base = metrics.labels()
    names = list(base)

    def gauge(name: str, doc: str, value: float, **extra: str) -> None:
        metric = Gauge(PREFIX + name, doc, [*names, *extra], registry=registry)
        metric.labels(**base, **extra).set(value)

    def gauges(name: str, doc: str, label: str, values: Mapping[str, int]) -> None:
        metric = Gauge(PREFIX + name, doc, [*names, label], registry=registry)
        for key, value in values.items():
            metric.labels(**base, **{label: key}).set(value)

    gauge("last_run_start_timestamp_seconds", "Start of the last run.", metrics.started_at)
    gauge("last_run_end_timestamp_seconds", "End of the last run.", metrics.finished_at)
    success = metrics.finished_at if metrics.succeeded else last_success
    if success is not None:
        gauge("last_success_timestamp_seconds", "End of the last run that exited 0.", success)
    gauge("last_run_duration_seconds", "Wall time of the last run.", metrics.duration_s)
    gauges("last_run_images", "Images of the last run by report status.", "status", metrics.counts)
    gauges("last_run_requests", "Requests sent by the last run.", "kind", metrics.requests)
    gauge("last_run_retries", "Retried attempts in the last run.", metrics.retries)
    gauge(
        "last_run_throttled",
        "Throttled answers (429 or the service's flow-control code) in the last run.",
        metrics.throttled,
    )
    gauge("last_run_exit_code", "Exit code of the last run.", metrics.exit_code)
    if metrics.targets:
        by_target = Gauge(
            PREFIX + "last_run_target_images",
            "Images of the last run by target and report status (runs over several targets).",
            [*names, "target", "status"],
            registry=registry,
        )
        for target, counts in metrics.targets.items():
            for status, value in counts.items():
                by_target.labels(**base, target=target, status=status).set(value)
    return registry


def check_textfile_path(path: Path) -> None:
    """Refuse, before anything is sent, a metrics file that could not be written later."""
    folder = path.parent
    if path.suffix != ".prom":
        raise UsageError(f"--metrics-file {str(path)!r}: node_exporter reads only *.prom files")
    if not folder.is_dir():
        raise UsageError(f"--metrics-file {str(path)!r}: no such folder {str(folder)!r}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--metrics-file {str(path)!r}: folder is not writable")
    if path.is_dir():
        raise UsageError(f"--metrics-file {str(path)!r}: is a folder")


def read_last_success(path: Path, *, job: str, shard: str | None = None) -> float | None:
    """The success time an earlier run of this job (and shard) left in `path`, if any: read
    without following a link, and never from another user's file."""
    try:
        with open_live(TEXTFILE_LABEL, path, mode="r") as file:
            text = file.read()
    except (OSError, UsageError):
        return None
    from prometheus_client.parser import text_string_to_metric_families

    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name == LAST_SUCCESS
                    and sample.labels.get("job") == job
                    and sample.labels.get("shard") == shard
                ):
                    return float(sample.value)
    except ValueError:  # a damaged file: start again from this run
        _log.warning("metrics.previous_unreadable", path=str(path))
    return None


def claim_textfile(path: Path) -> OutputFile:
    """The textfile claimed for the run: locked, checked, written whole by `write_claimed`."""
    return OutputFile(TEXTFILE_LABEL, path, overwrite=True, mode=TEXTFILE_MODE)


def write_textfile(path: Path, metrics: RunMetrics) -> bool:
    """Claim the node_exporter textfile and write it whole (see `write_claimed`)."""
    try:
        out = claim_textfile(path)
    except (UsageError, LockedError) as exc:
        _log.error("metrics.write_failed", path=str(path), error=str(exc))
        return False
    return write_claimed(out, metrics)


def write_claimed(out: OutputFile, metrics: RunMetrics) -> bool:
    """Write the claimed textfile: a temporary file, then renamed over the earlier one.

    Returns False, with a `metrics.write_failed` event, when it cannot be written.
    """
    from prometheus_client import generate_latest

    path = out.path
    previous = read_last_success(path, job=metrics.job, shard=metrics.shard)
    registry = build_registry(metrics, last_success=previous)
    try:
        out.file.write(generate_latest(registry))
        out.commit()
    except (OSError, OutputWriteError) as exc:
        out.discard()
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        _log.error("metrics.write_failed", path=str(path), error=reason or str(exc))
        return False
    _log.info("metrics.written", path=str(path), job=metrics.job, exit_code=metrics.exit_code)
    return True


def push(
    gateway: str,
    metrics: RunMetrics,
    *,
    timeout: float = PUSH_TIMEOUT_S,
    handler: PushHandler | None = None,
) -> bool:
    """Push to a Pushgateway, grouped by job (and shard).

    Uses POST (`pushadd_to_gateway`): only the metrics sent replace those of the group, so a
    failed run leaves the last success time of an earlier run in place. A gateway that
    cannot be reached, or refuses, gives a `metrics.push_failed` warning and False.
    `handler`: prometheus_client's HTTP handler (its default_handler when None).
    """
    from prometheus_client import pushadd_to_gateway
    from prometheus_client.exposition import default_handler

    registry = build_registry(metrics)
    grouping = metrics.labels()
    job = grouping.pop("job")
    try:
        pushadd_to_gateway(
            gateway,
            job=job,
            registry=registry,
            grouping_key=grouping,
            timeout=timeout,
            handler=default_handler if handler is None else handler,
        )
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        _log.warning("metrics.push_failed", gateway=_shown(gateway), job=job, error=str(exc))
        return False
    _log.info("metrics.pushed", gateway=_shown(gateway), job=job, exit_code=metrics.exit_code)
    return True


def _shown(url: str) -> str:
    """The URL as logged: without a user and password, should it carry them."""
    parts = urlsplit(url)
    if parts.hostname is None or "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))
