"""`batch-ims run`: the pipeline wired in one place.

read manifest -> select -> (read current state) -> send -> record -> report and summary.
Everything that can be checked offline is checked before the first request; the tool's
own errors raised here mean nothing was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import structlog
from yarl import URL

from batch_ims.auth import Authenticator, AuthFailedError, failure_hint, resolve_authenticator
from batch_ims.client import make_ssl_context
from batch_ims.control import RunControl, StopPolicy, StopReason
from batch_ims.endpoint import resolve_endpoint
from batch_ims.errors import UsageError
from batch_ims.exitcodes import ExitCode
from batch_ims.manifest import Manifest, load_manifest
from batch_ims.models import InvalidItem, Outcome, Status, unsent
from batch_ims.output.events import ImageEvents, Progress, Recorder
from batch_ims.output.journal import Journal, read_succeeded
from batch_ims.output.report import (
    ReportWriter,
    check_report_path,
    open_report,
    read_report_statuses,
)
from batch_ims.output.summary import Summary, touch_summary, write_summary
from batch_ims.output.undo import UndoWriter
from batch_ims.runner import Dispatcher, DispatchOptions, pause_until_stopped
from batch_ims.selection import Selection, in_shard, select
from batch_ims.session import Transport, open_sender
from batch_ims.settings import RunSettings
from batch_ims.state import StateStage
from batch_ims.stats import RunStats

_log = structlog.get_logger("batch_ims")


@dataclass(frozen=True, slots=True)
class Environment:
    """What the run needs from the process: variables, streams, terminal or not."""

    env: dict[str, str]
    stdout: TextIO
    stderr: TextIO
    stderr_is_terminal: bool


def process_environment(env: dict[str, str]) -> Environment:
    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return Environment(env=env, stdout=sys.stdout, stderr=sys.stderr, stderr_is_terminal=terminal)


def default_report_path(now: datetime) -> Path:
    return Path(f"batch-ims-report-{now.strftime('%Y%m%dT%H%M%SZ')}.csv")


def invalid_outcome(item: InvalidItem) -> Outcome:
    message = "; ".join(error.describe() for error in item.errors)
    return unsent(item, Status.INVALID, "", code="invalid_row", message=message)


def exit_code(control: RunControl, stats: RunStats) -> ExitCode:
    reason = control.reason
    if reason is StopReason.SIGINT:
        return ExitCode.SIGINT
    if reason is StopReason.SIGTERM:
        return ExitCode.SIGTERM
    if reason in (StopReason.AUTH, StopReason.FAILURE_THRESHOLD):
        return ExitCode.ABORTED
    if stats.counts.get(Status.FAILED.value) or stats.counts.get(Status.INVALID.value):
        return ExitCode.SOME_FAILED
    return ExitCode.OK


def load(settings: RunSettings) -> Manifest:
    manifest = load_manifest(settings.manifest, sheet=settings.sheet, encoding=settings.encoding)
    _log.info(
        "manifest.loaded",
        path=str(settings.manifest),
        layout=manifest.layout,
        rows=manifest.row_count,
        images=len(manifest.tasks),
        invalid=len(manifest.invalid),
    )
    return manifest


def _check_tls(settings: RunSettings) -> None:
    if settings.ca_bundle is None:
        return
    try:
        make_ssl_context(ca_bundle=str(settings.ca_bundle), insecure=False)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"--ca-bundle {str(settings.ca_bundle)!r}: cannot load it as PEM CA certificates "
            f"({exc.__class__.__name__}: {exc})"
        ) from exc


def _endpoint_and_auth(
    settings: RunSettings, environment: Environment
) -> tuple[URL, Authenticator]:
    """The endpoint (from --endpoint, --region, or the profile's region) and credentials."""
    if settings.endpoint is None and settings.region is None and settings.profile is not None:
        auth = resolve_authenticator(env=environment.env, profile=settings.profile, region=None)
        return resolve_endpoint(None, auth.region), auth
    endpoint = resolve_endpoint(settings.endpoint, settings.region)
    auth = resolve_authenticator(
        env=environment.env, profile=settings.profile, region=settings.region, endpoint=endpoint
    )
    return endpoint, auth


@dataclass(frozen=True, slots=True)
class OutputPaths:
    report: Path
    journal: Path | None


def output_paths(settings: RunSettings, now: datetime) -> OutputPaths:
    """The report (default: timestamped in the working directory) and the journal (default:
    beside the report; none for a dry run)."""
    report = settings.report or default_report_path(now)
    journal = settings.journal
    if journal is None and not settings.dry_run:
        journal = report.with_name(report.name + ".journal.jsonl")
    return OutputPaths(report, journal)


def check_offline(settings: RunSettings, paths: OutputPaths) -> None:
    """Everything about the run's own files that can be refused before anything is opened."""
    check_report_path(paths.report)
    _check_distinct_paths(settings, paths)
    _check_tls(settings)


def _check_distinct_paths(settings: RunSettings, paths: OutputPaths) -> None:
    """No two of the run's files may be one file: a report must never overwrite a manifest."""
    named = {
        "the manifest": settings.manifest,
        "--report": paths.report,
        "--journal": paths.journal,
        "--undo-manifest": settings.undo_manifest,
        "--summary-json": settings.summary_json,
        "--retry-failed-from": settings.retry_failed_from,
    }
    seen: dict[Path, str] = {}
    for name, path in named.items():
        if path is None:
            continue
        key = path.resolve()
        if key in seen:
            raise UsageError(
                f"{seen[key]} and {name} are the same file ({path}); give each its own path"
            )
        seen[key] = name


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Everything decided before the first request."""

    selection: Selection
    invalid: list[InvalidItem]
    images: int
    wide_layout: bool


def _prepare(settings: RunSettings, manifest: Manifest, paths: OutputPaths) -> _Prepared:
    earlier = None
    if settings.retry_failed_from is not None:
        earlier = read_report_statuses(settings.retry_failed_from)
    done = read_succeeded(paths.journal) if settings.resume and paths.journal else None
    tasks = [t for t in manifest.tasks if in_shard(t.image_id, settings.shard)]
    invalid = [i for i in manifest.invalid if in_shard(i.image_id, settings.shard)]
    return _Prepared(
        selection=select(tasks, earlier_report=earlier, journal_done=done),
        invalid=invalid,
        images=len(tasks) + len(invalid),
        wide_layout=manifest.layout == "wide",
    )


def run(settings: RunSettings, environment: Environment) -> ExitCode:
    """Validate everything that can be checked offline, then send; returns the exit code."""
    now = datetime.now(UTC)
    auth: Authenticator | None = None
    endpoint = None
    if not settings.dry_run:
        endpoint, auth = _endpoint_and_auth(settings, environment)
    paths = output_paths(settings, now)
    check_offline(settings, paths)
    manifest = load(settings)
    prepared = _prepare(settings, manifest, paths)
    # files are opened only now, every check passed: the journal first (its lock), the
    # report last, so that a refused run truncates nothing
    journal = None
    if auth is not None and paths.journal is not None:
        journal = Journal(paths.journal, clock=time.monotonic)
    if settings.summary_json is not None:
        touch_summary(settings.summary_json)  # an unwritable path fails now, before sending
    undo = None
    if settings.undo_manifest is not None and auth is not None:
        undo = UndoWriter(settings.undo_manifest, append=settings.resume)
    report = open_report(paths.report)
    stats = RunStats()
    progress = Progress(
        total=prepared.images,
        stats=stats,
        interval_s=settings.progress_interval,
        clock=time.monotonic,
        terminal=environment.stderr_is_terminal and settings.log_format != "json",
    )
    quiet = environment.stderr_is_terminal and not settings.verbose
    sinks: list[ReportWriter | ImageEvents | Journal | Progress] = [
        report,
        ImageEvents(quiet_successes=quiet),
    ]
    if journal is not None:
        sinks.append(journal)
    sinks.append(progress)
    control = RunControl(
        StopPolicy(
            max_failure_rate=settings.max_failure_rate,
            min_finished=settings.min_finished,
            auth_failure_limit=settings.auth_failure_limit,
        )
    )
    started = time.monotonic()
    with Recorder(stats, list(sinks)) as recorder:
        for item in prepared.invalid:
            recorder.record(invalid_outcome(item))
        for outcome in prepared.selection.skipped:
            recorder.record(outcome)
        if auth is None or endpoint is None:
            for task in prepared.selection.send:
                recorder.record(unsent(task, Status.SKIPPED, "dry run: not sent"))
        else:
            transport = Transport(
                endpoint=endpoint,
                concurrency=settings.concurrency,
                rate=settings.rate,
                timeout_s=settings.timeout,
                max_attempts=settings.max_attempts,
                verify=settings.verify,
                ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
                insecure=settings.insecure,
            )
            try:
                asyncio.run(
                    _send_all(
                        settings,
                        transport,
                        auth,
                        prepared,
                        control,
                        stats,
                        recorder,
                        progress,
                        undo,
                    )
                )
            finally:
                if undo is not None:
                    undo.close()
    code = exit_code(control, stats)
    summary = Summary.build(
        stats=stats,
        duration_s=time.monotonic() - started,
        exit_code=int(code),
        report=paths.report,
        images=prepared.images,
    )
    _log.info("run.finished", **summary.log_fields())
    if control.reason is StopReason.AUTH and auth is not None:
        _auth_hint(control, stats, auth, environment)
    if settings.summary_json is not None:
        write_summary(settings.summary_json, summary)
    with contextlib.suppress(OSError, ValueError):  # stdout closed (`| head`): the report stands
        environment.stdout.write(summary.human())
        environment.stdout.flush()
    return code


def _auth_hint(
    control: RunControl, stats: RunStats, auth: Authenticator, environment: Environment
) -> None:
    last = control.last_auth_failure
    hint = failure_hint(
        code=last.error_code if last else "",
        message=last.error_message if last else "",
        server_date=stats.server_date,
        now=datetime.now(UTC),
        mode=auth.mode,
        region=auth.region,
        project_id=auth.project_id,
    )
    _log.error("run.auth_failed", hint=hint)
    if environment.stderr_is_terminal:
        environment.stderr.write(hint + "\n")


async def _send_all(
    settings: RunSettings,
    transport: Transport,
    auth: Authenticator,
    prepared: _Prepared,
    control: RunControl,
    stats: RunStats,
    recorder: Recorder,
    progress: Progress,
    undo: UndoWriter | None,
) -> None:
    tasks = prepared.selection.send
    signals = _Signals(asyncio.get_running_loop(), control)
    try:
        async with open_sender(
            transport,
            auth,
            stats=stats,
            control=control,
            pause=lambda seconds: pause_until_stopped(signals.stop_event, seconds),
            stop_event=signals.stop_event,
        ) as sender:
            _log.info(
                "run.started",
                endpoint=str(transport.endpoint),
                auth=auth.describe(),
                images=len(tasks),
                rate=transport.rate,
                concurrency=transport.concurrency,
            )
            send = sender.send
            if settings.skip_unchanged or undo is not None:
                send = StateStage(
                    sender,
                    skip_unchanged=settings.skip_unchanged,
                    wide_layout=prepared.wide_layout,
                    undo=undo,
                ).send
            dispatcher = Dispatcher(
                send=send,
                record=recorder.record,
                control=control,
                options=DispatchOptions(concurrency=settings.concurrency, grace_s=settings.grace),
                stop_event=signals.stop_event,
            )
            signals.dispatcher = dispatcher
            ticker = asyncio.create_task(_tick(progress, recorder, settings.progress_interval))
            try:
                await dispatcher.run(tasks)
            finally:
                ticker.cancel()
    except AuthFailedError as exc:
        control.stop(StopReason.AUTH)
        _log.error("auth.failed", error=str(exc))
        for task in tasks:
            recorder.record(
                unsent(
                    task,
                    Status.ABORTED,
                    "not sent: authentication failed",
                    code="auth_failed",
                    message=str(exc),
                )
            )
    finally:
        signals.remove()


class _Signals:
    """SIGINT/SIGTERM for the whole sending phase, from before authentication on.

    The first signal stops dispatching (in-flight requests get the grace period); a
    second one cancels what is in flight at once. Either way every image is reported.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, control: RunControl) -> None:
        self._loop = loop
        self._control = control
        self.stop_event = asyncio.Event()
        self.dispatcher: Dispatcher | None = None
        self._previous = signal.getsignal(signal.SIGTERM)
        loop.add_signal_handler(signal.SIGINT, self._on_signal, StopReason.SIGINT)
        loop.add_signal_handler(signal.SIGTERM, self._on_signal, StopReason.SIGTERM)

    def _on_signal(self, reason: StopReason) -> None:
        if self._control.stop(reason):
            _log.warning("run.signal", signal=reason.value, action="stopping; in-flight may finish")
            self.stop_event.set()
        else:
            _log.warning("run.signal", signal=reason.value, action="cancelling in-flight now")
            self.stop_event.set()
            if self.dispatcher is not None:
                self.dispatcher.cancel_in_flight()

    def remove(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(sig)
        signal.signal(signal.SIGTERM, self._previous)  # asyncio leaves SIG_DFL behind


async def _tick(progress: Progress, recorder: Recorder, interval_s: float) -> None:
    while True:
        await asyncio.sleep(min(0.5, interval_s))
        progress.tick()
        recorder.flush()
