"""Where the run's files go, and the checks made on them before anything is opened."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from batch_ims.errors import UsageError
from batch_ims.output.files import check_output
from batch_ims.output.report import check_report_path
from batch_ims.settings import RunSettings


@dataclass(frozen=True, slots=True)
class OutputPaths:
    report: Path
    journal: Path | None


def default_report_path(now: datetime) -> Path:
    """`batch-ims-report-<UTC time>.csv`; a numbered name when a run of the same second
    left one (`...Z-2.csv`): a name nobody chose never refuses a run."""
    stem = f"batch-ims-report-{now.strftime('%Y%m%dT%H%M%SZ')}"
    path, number = Path(stem + ".csv"), 1
    while os.path.lexists(path) or os.path.lexists(path.with_name(path.name + ".journal.jsonl")):
        number += 1
        path = Path(f"{stem}-{number}.csv")
    return path


def output_paths(settings: RunSettings, now: datetime) -> OutputPaths:
    """The report (default: timestamped in the working directory) and the journal (default:
    beside the report; none for a dry run)."""
    report = settings.report or default_report_path(now)
    journal = settings.journal
    if journal is None and not settings.dry_run:
        journal = report.with_name(report.name + ".journal.jsonl")
    return OutputPaths(report, journal)


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what `path` names, so hard and symbolic links are one file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def check_paths(settings: RunSettings, paths: OutputPaths) -> None:
    """A usable report format, and no two of the run's files one file: a report must never
    overwrite a manifest, not even through a hard link."""
    check_report_path(paths.report)
    _distinct(
        {
            "the manifest": settings.manifest,
            "--report": paths.report,
            "--journal": paths.journal,
            "--undo-manifest": settings.undo_manifest,
            "--summary-json": settings.summary_json,
            "--metrics-file": settings.metrics_file,
            "--retry-failed-from": settings.retry_failed_from,
            "--plan": settings.plan,
        }
    )


def check_command_outputs(settings: RunSettings, outputs: Mapping[str, Path | None]) -> None:
    """The checks a run makes of its outputs, for another command's (`plan --report`,
    `plan --out`): a usable report format, no two files one, none replaced without
    --overwrite, none through a link or into another user's file."""
    report = outputs.get("--report")
    if report is not None:
        check_report_path(report)
    _distinct({"the manifest": settings.manifest, **outputs})
    for label, path in outputs.items():
        if path is not None:
            check_output(label, path, overwrite=settings.overwrite)


def _distinct(named: Mapping[str, Path | None]) -> None:
    seen: dict[object, str] = {}
    for name, path in named.items():
        if path is None:
            continue
        for key in {path.resolve(), _identity(path)} - {None}:
            if key in seen:
                raise UsageError(
                    f"{seen[key]} and {name} are the same file ({path}); give each its own path"
                )
            seen[key] = name


def check_outputs(settings: RunSettings, paths: OutputPaths) -> None:
    """No output through a symbolic link or into a file another user owns, and none that
    replaces an earlier run's file unless --overwrite (or --resume: the resumed run's)."""
    replace = settings.overwrite or settings.resume
    for label, path in (
        ("report", paths.report),
        ("--summary-json", settings.summary_json),
        ("--undo-manifest", None if settings.dry_run else settings.undo_manifest),
    ):
        if path is not None:
            check_output(label, path, overwrite=replace)
    if paths.journal is not None:
        check_output("journal", paths.journal, overwrite=True)  # appended to, never replaced
    if settings.metrics_file is not None:  # the last run's metrics: replaced every run
        check_output("--metrics-file", settings.metrics_file, overwrite=True)
