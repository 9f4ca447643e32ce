"""The first stages of a run: everything decided and checked before the first request.

read manifest -> check files and TLS -> select (shard, resume, retry-failed).
The tool's own errors raised here mean nothing was sent and nothing was opened.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import structlog

from batch_ims.errors import UsageError
from batch_ims.manifest import Manifest, load_manifest_targets
from batch_ims.manifest.rules import AttributeRules
from batch_ims.manifest.targets import TargetCells
from batch_ims.models import InvalidItem
from batch_ims.output.journal import read_succeeded
from batch_ims.output.metrics import check_textfile_path
from batch_ims.output.paths import OutputPaths, check_outputs, check_paths
from batch_ims.output.report import read_report_statuses
from batch_ims.run.hidden import HiddenSkips, check_hidden
from batch_ims.run.selection import Selection, in_shard, select
from batch_ims.settings import RunSettings
from batch_ims.transport.client import make_ssl_context
from batch_ims.transport.endpoint import check_endpoint

_log = structlog.get_logger("batch_ims")


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything decided before the first request."""

    selection: Selection
    invalid: list[InvalidItem]
    images: int
    wide_layout: bool
    hidden: HiddenSkips  # images of hidden rows left out (--hidden-rows skip)


def load(
    settings: RunSettings, rules: AttributeRules, target_columns: tuple[str, ...]
) -> list[tuple[TargetCells, Manifest]]:
    """The manifest, split by its target columns (one part when it has none)."""
    parts = load_manifest_targets(
        settings.manifest,
        sheet=settings.sheet,
        encoding=settings.encoding,
        strict=settings.strict,
        rules=rules,
        hidden_rows=settings.hidden_rows,
        target_columns=target_columns,
    )
    for target, manifest in parts:
        for warning in manifest.warnings:
            _log.warning("manifest.typo", warning=warning.describe())
        _log.info(
            "manifest.loaded",
            path=str(settings.manifest),
            target=target.label,
            layout=manifest.layout,
            rows=manifest.row_count,
            images=manifest.image_count,
            invalid=len(manifest.invalid),
        )
    check_hidden(str(settings.manifest), [manifest for _, manifest in parts], settings.hidden_rows)
    return parts


def check_offline(settings: RunSettings, paths: OutputPaths) -> None:
    """Everything about the run's own files that can be refused before anything is opened."""
    check_paths(settings, paths)
    check_outputs(settings, paths)
    _check_tls(settings.ca_bundle)
    if settings.metrics_file is not None:
        check_textfile_path(settings.metrics_file)
    if settings.pushgateway is not None:
        _check_pushgateway(settings.pushgateway, allow_http=settings.pushgateway_allow_http)


def _check_pushgateway(url: str, *, allow_http: bool) -> None:
    """An https URL, or plain http to loopback, or to any host with --pushgateway-allow-http:
    a Pushgateway inside a cluster is usually plain http, and it receives only metrics."""
    try:
        check_endpoint(
            url, name="--pushgateway", example="https://pushgateway:9091", plain_http=allow_http
        )
    except UsageError as exc:
        if "plain http" not in str(exc):
            raise
        raise UsageError(
            f"{exc}; or give --pushgateway-allow-http (job file: pushgateway-allow-http = "
            "true) for a Pushgateway reached over a private network"
        ) from None


def _check_tls(ca_bundle: Path | None) -> None:
    if ca_bundle is None:
        return
    try:
        make_ssl_context(ca_bundle=str(ca_bundle), insecure=False)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"--ca-bundle {str(ca_bundle)!r}: cannot load it as PEM CA certificates "
            f"({exc.__class__.__name__}: {exc})"
        ) from exc


def prepare(
    settings: RunSettings, manifest: Manifest, paths: OutputPaths, *, target: str
) -> Prepared:
    """Select what to send to `target` (a journal's lines of other targets say nothing)."""
    earlier = None
    if settings.retry_failed_from is not None:
        earlier = read_report_statuses(settings.retry_failed_from)
    done = None
    if settings.resume and paths.journal:
        done = read_succeeded(paths.journal, target)
    selection = select(
        manifest.task_stream(), earlier_report=earlier, journal_done=done, shard=settings.shard
    )
    invalid = [i for i in manifest.invalid if in_shard(i.image_id, settings.shard)]
    hidden = HiddenSkips(manifest, settings.shard)
    return Prepared(
        selection=selection,
        invalid=invalid,
        images=len(selection.send) + len(selection.skipped) + len(invalid) + len(hidden),
        wide_layout=manifest.layout == "wide",
        hidden=hidden,
    )
