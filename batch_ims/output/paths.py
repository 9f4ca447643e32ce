"""Where the run's files go, and the checks made on them before anything is opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from batch_ims.errors import UsageError
from batch_ims.output.report import check_report_path
from batch_ims.settings import RunSettings


@dataclass(frozen=True, slots=True)
class OutputPaths:
    report: Path
    journal: Path | None


def default_report_path(now: datetime) -> Path:
    return Path(f"batch-ims-report-{now.strftime('%Y%m%dT%H%M%SZ')}.csv")


def output_paths(settings: RunSettings, now: datetime) -> OutputPaths:
    """The report (default: timestamped in the working directory) and the journal (default:
    beside the report; none for a dry run)."""
    report = settings.report or default_report_path(now)
    journal = settings.journal
    if journal is None and not settings.dry_run:
        journal = report.with_name(report.name + ".journal.jsonl")
    return OutputPaths(report, journal)


def check_paths(settings: RunSettings, paths: OutputPaths) -> None:
    """A usable report format, and no two of the run's files one file: a report must never
    overwrite a manifest."""
    check_report_path(paths.report)
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
