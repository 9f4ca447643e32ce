"""`batch-ims run`: the pipeline wired in one place.

read manifest -> select -> (read current state) -> send -> record -> report/summary.
Returns the exit code; raises only the tool's own errors before anything is sent.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

from batch_ims.auth import is_auth_failure, resolve_authenticator
from batch_ims.auth.base import AuthFailedError
from batch_ims.auth.hints import failure_hint
from batch_ims.client import ImsClient, make_session, make_ssl_context
from batch_ims.control import RunControl, StopPolicy, StopReason
from batch_ims.endpoint import resolve_endpoint
from batch_ims.errors import UsageError
from batch_ims.exitcodes import ExitCode
from batch_ims.manifest import Manifest, load_manifest
from batch_ims.models import InvalidItem, Outcome, Status
from batch_ims.output.events import ImageEvents, Progress, Recorder
from batch_ims.output.journal import Journal, read_succeeded
from batch_ims.output.report import open_report, read_report_statuses
from batch_ims.output.summary import Summary, write_summary
from batch_ims.ratelimit import AdaptiveRate, Pacer, RatePolicy
from batch_ims.retry import RetryPolicy
from batch_ims.runner import Dispatcher, DispatchOptions
from batch_ims.selection import in_shard, select
from batch_ims.send import ImageSender, SendOptions, utc_now_text
from batch_ims.settings import RunSettings
from batch_ims.stats import RunStats

_log = structlog.get_logger("batch_ims")


@dataclass(frozen=True, slots=True)
class Environment:
    """What the run needs from the process: variables, streams, terminal or not."""

    env: dict[str, str]
    stdout: TextIO
    stderr: TextIO
    stderr_is_terminal: bool


def default_report_path(now: datetime) -> Path:
    return Path(f"batch-ims-report-{now.strftime('%Y%m%dT%H%M%SZ')}.csv")


def invalid_outcome(item: InvalidItem) -> Outcome:
    return Outcome(
        image_id=item.image_id,
        status=Status.INVALID,
        rows=item.rows,
        ops=item.ops,
        error_code="invalid_row",
        error_message="; ".join(error.describe() for error in item.errors),
        finished_at=utc_now_text(),
    )


def _exit_code(control: RunControl, stats: RunStats) -> ExitCode:
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


def _load(settings: RunSettings) -> Manifest:
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


def run(settings: RunSettings, environment: Environment) -> ExitCode:
    """Validate everything that can be checked offline, then send. Raises UsageError early."""
    now = datetime.now(UTC)
    manifest = _load(settings)
    endpoint = None if settings.dry_run else resolve_endpoint(settings.endpoint, settings.region)
    auth = None
    if not settings.dry_run:
        auth = resolve_authenticator(
            env=environment.env, profile=settings.profile, region=settings.region
        )
    earlier = (
        read_report_statuses(settings.retry_failed_from) if settings.retry_failed_from else None
    )
    journal_path = settings.journal
    report_path = settings.report or default_report_path(now)
    if journal_path is None and not settings.dry_run:
        journal_path = report_path.with_name(report_path.name + ".journal.jsonl")
    done = read_succeeded(journal_path) if settings.resume and journal_path else None
    tasks = [t for t in manifest.tasks if in_shard(t.image_id, settings.shard)]
    invalid = [i for i in manifest.invalid if in_shard(i.image_id, settings.shard)]
    selection = select(tasks, earlier_report=earlier, journal_done=done)

    journal = None if settings.dry_run or journal_path is None else _open_journal(journal_path)
    stats = RunStats()
    progress = Progress(
        total=len(invalid) + len(tasks),
        stats=stats,
        interval_s=settings.progress_interval,
        clock=time.monotonic,
        terminal=environment.stderr_is_terminal and settings.log_format != "json",
    )
    sinks: list[Any] = [
        open_report(report_path),
        ImageEvents(quiet_successes=environment.stderr_is_terminal and not settings.verbose),
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
    with Recorder(stats, sinks) as recorder:
        for item in invalid:
            recorder.record(invalid_outcome(item))
        for outcome in selection.skipped:
            recorder.record(outcome)
        if settings.dry_run:
            for task in selection.send:
                recorder.record(
                    Outcome(
                        image_id=task.image_id,
                        status=Status.SKIPPED,
                        rows=task.rows,
                        ops=task.ops,
                        finished_at=utc_now_text(),
                        note="dry run: not sent",
                    )
                )
        else:
            if endpoint is None or auth is None:  # pragma: no cover - set above unless dry run
                raise UsageError("no endpoint or credentials")
            asyncio.run(
                _send_all(
                    settings, selection.send, endpoint, auth, control, stats, recorder, progress
                )
            )
    code = _exit_code(control, stats)
    elapsed = time.monotonic() - started
    summary = Summary.build(
        stats=stats,
        duration_s=elapsed,
        exit_code=int(code),
        report=report_path,
        images=len(tasks) + len(invalid),
    )
    _log.info("run.finished", **summary.log_fields())
    if control.reason is StopReason.AUTH and auth is not None:
        _print_auth_hint(control, stats, auth, environment)
    if settings.summary_json is not None:
        write_summary(settings.summary_json, summary)
    environment.stdout.write(summary.human())
    environment.stdout.flush()
    return code


def _open_journal(path: Path) -> Journal:
    return Journal(path, clock=time.monotonic)


def _print_auth_hint(
    control: RunControl, stats: RunStats, auth: Any, environment: Environment
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
    environment.stderr.write("" if not environment.stderr_is_terminal else hint + "\n")


async def _send_all(
    settings: RunSettings,
    tasks: list[Any],
    endpoint: Any,
    auth: Any,
    control: RunControl,
    stats: RunStats,
    recorder: Recorder,
    progress: Progress,
) -> None:
    ssl_context = make_ssl_context(
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        insecure=settings.insecure,
    )
    if settings.insecure:
        _log.warning(
            "tls.verification_disabled",
            endpoint=str(endpoint),
            advice="--insecure: anyone on the path can read and change requests",
        )
    async with make_session(
        concurrency=settings.concurrency, ssl_context=ssl_context, timeout_s=settings.timeout
    ) as session:
        try:
            await auth.prepare(session)
        except AuthFailedError as exc:
            control.stop(StopReason.AUTH)
            _log.error("auth.failed", error=str(exc))
            for task in tasks:
                recorder.record(
                    Outcome(
                        image_id=task.image_id,
                        status=Status.ABORTED,
                        rows=task.rows,
                        ops=task.ops,
                        error_code="auth_failed",
                        error_message=str(exc),
                        finished_at=utc_now_text(),
                        note="not sent: authentication failed",
                    )
                )
            return
        _log.info(
            "run.started",
            endpoint=str(endpoint),
            auth=auth.describe(),
            images=len(tasks),
            rate=settings.rate,
            concurrency=settings.concurrency,
        )
        client = ImsClient(session, endpoint, auth)
        rate = AdaptiveRate(RatePolicy(ceiling=settings.rate), time.monotonic)
        dispatcher: Dispatcher
        sender = ImageSender(
            client=client,
            pacer=Pacer(rate, time.monotonic),
            rate=rate,
            options=SendOptions(
                policy=RetryPolicy(max_attempts=settings.max_attempts), verify=settings.verify
            ),
            stats=stats,
            control=control,
            auth=auth,
            is_auth_failure=is_auth_failure,
            pause=lambda seconds: dispatcher.pause(seconds),
            rand=random.random,
        )
        dispatcher = Dispatcher(
            send=sender.send,
            record=recorder.record,
            control=control,
            options=DispatchOptions(concurrency=settings.concurrency, grace_s=settings.grace),
        )
        loop = asyncio.get_running_loop()
        _install_signals(loop, control, dispatcher)
        ticker = asyncio.create_task(_tick(progress, recorder))
        try:
            await dispatcher.run(tasks)
        finally:
            ticker.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def _install_signals(
    loop: asyncio.AbstractEventLoop, control: RunControl, dispatcher: Dispatcher
) -> None:
    def on_signal(reason: StopReason) -> None:
        if control.stop(reason):
            _log.warning("run.signal", signal=reason.value, action="stopping; finishing in-flight")
            dispatcher.request_stop()
        else:
            _log.warning("run.signal", signal=reason.value, action="cancelling in-flight now")
            dispatcher.cancel_in_flight()

    loop.add_signal_handler(signal.SIGINT, on_signal, StopReason.SIGINT)
    loop.add_signal_handler(signal.SIGTERM, on_signal, StopReason.SIGTERM)


async def _tick(progress: Progress, recorder: Recorder) -> None:
    while True:
        await asyncio.sleep(0.5)
        progress.tick()
        recorder.flush()


def check_offline(settings: RunSettings) -> None:
    """Raise UsageError when options contradict each other (before the manifest is read)."""
    if settings.resume and settings.dry_run:
        raise UsageError("--resume and --dry-run contradict each other; give one")


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def process_environment(env: dict[str, str]) -> Environment:
    return Environment(
        env=env, stdout=sys.stdout, stderr=sys.stderr, stderr_is_terminal=is_terminal(sys.stderr)
    )
