"""The end of a run for machines (`--summary-json`, the `run.finished` event) and people."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_ims.console import shown
from batch_ims.logsetup import redact_data
from batch_ims.output.files import OutputFile, write_error
from batch_ims.stats import RunStats


@dataclass(frozen=True, slots=True)
class Summary:
    counts: dict[str, int]
    images: int
    requests: int
    requests_by_method: dict[str, int]
    retries: int
    throttled: int
    duration_s: float
    rate_achieved: float
    rate_asked: float
    in_flight_peak: int
    latency_ms: dict[str, float]
    exit_code: int
    report: str
    targets: dict[str, dict[str, int]]  # each target's counts, in a run over several
    hidden_rows_skipped: int = 0  # manifest rows hidden in the workbook, left out

    @classmethod
    def build(
        cls,
        *,
        stats: RunStats,
        duration_s: float,
        exit_code: int,
        report: Path,
        images: int,
        rate_asked: float,
        hidden_rows_skipped: int = 0,
    ) -> Summary:
        return cls(
            counts=stats.all_counts(),
            images=images,
            requests=stats.requests,
            requests_by_method={m: stats.requests_by_method.get(m, 0) for m in ("GET", "PATCH")},
            retries=stats.retries,
            throttled=stats.throttled,
            duration_s=round(duration_s, 3),
            rate_achieved=round(stats.requests / duration_s, 2) if duration_s > 0 else 0.0,
            rate_asked=rate_asked,
            in_flight_peak=stats.in_flight_peak,
            latency_ms=stats.percentiles(),
            exit_code=exit_code,
            report=str(report),
            targets=stats.target_counts(),
            hidden_rows_skipped=hidden_rows_skipped,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "images": self.images,
            "requests": self.requests,
            "requests_by_method": self.requests_by_method,
            "retries": self.retries,
            "throttled": self.throttled,
            "duration_s": self.duration_s,
            "rate_achieved": self.rate_achieved,
            "rate_asked": self.rate_asked,
            "in_flight_peak": self.in_flight_peak,
            "latency_ms": self.latency_ms,
            "exit_code": self.exit_code,
            "report": self.report,
            "hidden_rows_skipped": self.hidden_rows_skipped,
        } | ({"targets": self.targets} if self.targets else {})

    def log_fields(self) -> dict[str, Any]:
        return self.as_json()

    def human(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
        by_method = ", ".join(f"{n} {method}" for method, n in self.requests_by_method.items())
        hidden = ""
        if self.hidden_rows_skipped:
            hidden = (
                f"  {self.hidden_rows_skipped} hidden rows skipped (--hidden-rows skip; "
                "in the report as skipped)\n"
            )
        return (
            f"batch-ims: {self.images} images: {counts}\n{hidden}"
            f"  {self.requests} requests ({by_method}; {self.retries} retries, "
            f"{self.throttled} throttled) "
            f"in {self.duration_s:.1f} s, {self.rate_achieved:.1f} requests/s "
            f"(asked {self.rate_asked:g}), at most {self.in_flight_peak} in flight\n"
            f"  report: {shown(self.report)}\n"
        ) + "".join(
            f"  {shown(target)}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "\n"
            for target, counts in self.targets.items()
        )


def write_summary(out: OutputFile, summary: Summary) -> None:
    """Write the summary to its claimed output and replace the earlier file whole."""
    text = json.dumps(redact_data(summary.as_json()), indent=2) + "\n"
    try:
        out.file.write(text.encode("utf-8"))
    except OSError as exc:
        out.discard()
        raise write_error(out.label, out.path, exc) from exc
    out.commit()
