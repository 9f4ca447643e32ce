"""The run's settings: one frozen object built from defaults, a job file and the command line."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from batch_ims.errors import UsageError

LOG_FORMATS = ("auto", "json", "console")
HIDDEN_ROW_CHOICES = ("skip", "include")
EXPORT_PAGE_SIZE = 200  # images `export` asks for per list page (a server may give fewer)
# requests in flight when --concurrency is not given: what the rate needs at the measured
# latency (Little's law), up to this many
AUTO_CONCURRENCY_CEILING = 256
_SHARD = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.match(text.strip())
        if not match:
            raise UsageError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/3")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or index >= count:
            raise UsageError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/3")
        return cls(index, count)


@dataclass(frozen=True, slots=True)
class StopPolicy:
    """When a run stops on its own (the values come from RunSettings)."""

    max_failure_rate: float  # failed/finished above this stops the run ...
    min_finished: int  # ... once this many images have finished
    auth_failure_limit: int  # consecutive auth/permission failures that stop the run
    unreachable_limit: int  # consecutive requests that could not connect at all
    # a SIGTERM this soon after the first is the same stop (`timeout`, Kubernetes and systemd
    # may signal the process and then its group); a later one, or SIGINT twice, escalates
    same_signal_window_s: float = 1.0


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Every option of a run, with its default: the one place defaults are written."""

    manifest: Path
    sheet: str | None = None
    encoding: str | None = None
    strict: bool = False
    hidden_rows: str | None = None  # "skip" or "include"; None: a run refuses hidden rows
    endpoint: str | None = None
    region: str | None = None
    profile: str | None = None
    cloud: str | None = None
    provider: str | None = None
    concurrency: int | None = None  # None: follow the rate, up to AUTO_CONCURRENCY_CEILING
    rate: float = 10.0
    max_attempts: int = 5
    timeout: float = 30.0
    report: Path | None = None
    journal: Path | None = None
    resume: bool = False
    max_failure_rate: float = 0.5
    min_finished: int = 100
    grace: float = 20.0
    auth_failure_limit: int = 5
    unreachable_limit: int = 10
    dry_run: bool = False
    skip_unchanged: bool = False
    undo_manifest: Path | None = None
    verify: bool = False
    progress_interval: float = 10.0
    summary_json: Path | None = None
    retry_failed_from: Path | None = None
    shard: Shard | None = None
    log_format: str = "auto"
    ca_bundle: Path | None = None
    insecure: bool = False
    verbose: bool = False
    metrics_file: Path | None = None
    pushgateway: str | None = None
    pushgateway_allow_http: bool = False
    metrics_job: str | None = None
    overwrite: bool = False
    plan: Path | None = None
    ignore_drift: bool = False
    yes: bool = False

    @property
    def concurrency_ceiling(self) -> tuple[int, str]:
        """The most requests in flight, and who chose it."""
        if self.concurrency is None:
            return AUTO_CONCURRENCY_CEILING, "default"
        return self.concurrency, "--concurrency"

    @property
    def stop_policy(self) -> StopPolicy:
        return StopPolicy(
            max_failure_rate=self.max_failure_rate,
            min_finished=self.min_finished,
            auth_failure_limit=self.auth_failure_limit,
            unreachable_limit=self.unreachable_limit,
        )


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(RunSettings))
PATH_SETTINGS = frozenset(
    {
        "manifest",
        "report",
        "journal",
        "undo_manifest",
        "summary_json",
        "retry_failed_from",
        "ca_bundle",
        "metrics_file",
        "plan",
    }
)
TEMPLATED_SETTINGS = frozenset({"report", "journal", "summary_json", "undo_manifest"})


def expand_template(value: str, now: datetime, *, name: str = "path") -> str:
    """strftime fields (UTC) in an output path as the user wrote it: `out/report-%Y%m%d.csv`.

    Each part between slashes is expanded alone; a field that makes a slash (`%D`) would
    make folders nobody asked for, and is refused.
    """
    if "%" not in value:
        return value
    parts = []
    for part in value.split("/"):
        expanded = now.strftime(part) if "%" in part else part
        if "/" in expanded:
            option = "--" + name.replace("_", "-")
            raise UsageError(
                f"{option} {value!r}: {part!r} expands to {expanded!r}, which holds a '/'; "
                "use fields without slashes (e.g. %Y%m%d instead of %D)"
            )
        parts.append(expanded)
    return "/".join(parts)


def _check_ranges(values: dict[str, Any]) -> None:
    checks: list[tuple[str, bool, str]] = [
        (
            "concurrency",
            values["concurrency"] is None or values["concurrency"] >= 1,
            "a whole number of at least 1",
        ),
        ("rate", values["rate"] > 0, "a number above 0 (requests per second)"),
        ("max_attempts", values["max_attempts"] >= 1, "a whole number of at least 1"),
        ("timeout", values["timeout"] > 0, "a number of seconds above 0"),
        ("max_failure_rate", 0 <= values["max_failure_rate"] <= 1, "a share from 0 to 1"),
        ("min_finished", values["min_finished"] >= 1, "a whole number of at least 1"),
        ("grace", values["grace"] >= 0, "a number of seconds, 0 or more"),
        ("auth_failure_limit", values["auth_failure_limit"] >= 1, "a whole number of at least 1"),
        ("unreachable_limit", values["unreachable_limit"] >= 1, "a whole number of at least 1"),
        ("progress_interval", values["progress_interval"] > 0, "a number of seconds above 0"),
        ("log_format", values["log_format"] in LOG_FORMATS, "one of " + ", ".join(LOG_FORMATS)),
    ]
    for name in ("rate", "timeout", "max_failure_rate", "grace", "progress_interval"):
        if not math.isfinite(values[name]):
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} {values[name]!r}: expected a finite number")
    for name, ok, valid in checks:
        if not ok:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} {values[name]!r}: expected {valid}")
    if values["hidden_rows"] not in (None, *HIDDEN_ROW_CHOICES):
        raise UsageError(
            f"--hidden-rows {values['hidden_rows']!r}: expected " + " or ".join(HIDDEN_ROW_CHOICES)
        )
    if values["resume"] and values["journal"] is None:
        raise UsageError("--resume needs --journal PATH (the journal of the run to resume)")
    if values["ignore_drift"] and values["plan"] is None:
        raise UsageError("--ignore-drift needs --plan PLAN.json (the plan whose drift to ignore)")
    if values["insecure"] and values["ca_bundle"] is not None:
        raise UsageError("--insecure and --ca-bundle contradict each other; give one")


def default(name: str) -> Any:
    """The default of one setting, for help texts."""
    return _DEFAULTS[name]


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSettings) if f.name != "manifest"}


def build_settings(values: dict[str, Any], *, now: datetime) -> RunSettings:
    """Defaults, then `values` (already merged: job file under command line); validated."""
    merged: dict[str, Any] = {
        f.name: f.default for f in dataclasses.fields(RunSettings) if f.name != "manifest"
    }
    merged.update({k: v for k, v in values.items() if v is not None})
    if merged.get("manifest") is None:
        raise UsageError("no manifest: give MANIFEST or a --job file with `manifest = ...`")
    for name in TEMPLATED_SETTINGS:
        if isinstance(merged.get(name), str):  # a Path came expanded from a job file
            merged[name] = Path(expand_template(merged[name], now, name=name))
    for name in PATH_SETTINGS:
        if merged.get(name) is not None:
            if "\x00" in str(merged[name]):
                option = "--" + name.replace("_", "-")
                raise UsageError(f"{option}: a path may not contain a NUL character")
            merged[name] = Path(merged[name])
    if isinstance(merged.get("shard"), str):
        merged["shard"] = Shard.parse(merged["shard"])
    _check_ranges(merged)
    return RunSettings(**merged)
