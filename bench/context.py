"""What every scenario shares: sizes (full or quick), folders, and how to call batch-ims."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.emulator_proc import client_env
from bench.measure import ChildResult, run_child


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each scenario is; `quick()` is a smoke run of a minute or two."""

    images: int = 10_000  # floor, SDK pool and batch-ims rows
    sdk_images: int = 10_000  # the SDK pool's share of them (per-image time is compared)
    repeats: int = 3  # SDK pool runs (about 17 s each)
    pairs: int = 7  # floor / batch-ims pairs, the ratio taken pair by pair
    rate_images: int = 400
    rate: float = 50.0
    rate_repeats: int = 3
    adaptive_images: int = 1_500
    adaptive_limit: float = 100.0
    adaptive_rate: float = 400.0
    adaptive_repeats: int = 3
    latency_images: int = 1_500  # at --rate latency_rate: an ideal of 15 s per run
    latency_rate: float = 100.0
    latency_means_ms: tuple[float, ...] = (50.0, 250.0, 1000.0)
    latency_repeats: int = 1
    large_images: int = 500_000  # x 2 rows each
    large_repeats: int = 2
    startup_repeats: int = 5
    memory_small: int = 20_000
    memory_large: int = 200_000
    memory_repeats: int = 1
    export_small: int = 10_000
    export_large: int = 100_000
    export_repeats: int = 2
    target_images: int = 600  # per target, at --rate target_rate each
    target_rate: float = 50.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            images=2_000,
            sdk_images=1_000,
            repeats=1,
            pairs=2,
            rate_images=150,
            rate_repeats=1,
            adaptive_images=400,
            adaptive_repeats=1,
            latency_images=300,
            large_images=50_000,
            large_repeats=1,
            startup_repeats=3,
            memory_small=1_000,
            memory_large=10_000,
            memory_repeats=1,
            export_small=2_000,
            export_large=10_000,
            export_repeats=1,
            target_images=150,
        )


@dataclass(frozen=True, slots=True)
class Bench:
    sizes: Sizes
    results: Path  # bench/results: manifests, reports, logs, latest.json
    quick: bool

    @property
    def work(self) -> Path:
        folder = self.results / "work"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def batch_ims_argv(self) -> list[str]:
        script = Path(sys.executable).parent / "batch-ims"
        return [str(script)] if script.exists() else [sys.executable, "-m", "batch_ims"]

    def run_batch_ims(
        self,
        manifest: Path,
        endpoint: str,
        *,
        rate: float,
        concurrency: int | None,
        tag: str,
        cloud: tuple[str, dict[str, str]] | None = None,
        extra: tuple[str, ...] = (),
    ) -> tuple[ChildResult, dict[str, Any]]:
        """`batch-ims run`, report and journal on (JSON logs to a file); result and summary.
        `concurrency` None leaves `--concurrency` out (its default).

        `cloud`: (name, environment) to run in OpenStack mode instead of IMS mode; `extra`:
        more options (e.g. `--provider`)."""
        report = self.work / f"report-{tag}.csv"
        journal = self.work / f"journal-{tag}.jsonl"
        summary = self.work / f"summary-{tag}.json"
        for stale in (report, journal, summary):
            stale.unlink(missing_ok=True)
        target = ["--endpoint", endpoint] if cloud is None else ["--cloud", cloud[0]]
        argv = [*self.batch_ims_argv(), "run", str(manifest), *target]
        argv += ["--rate", f"{rate:g}"]
        if concurrency is not None:  # None: the default, what the rate needs
            argv += ["--concurrency", str(concurrency)]
        argv += ["--report", str(report), "--journal", str(journal)]
        argv += ["--summary-json", str(summary), "--log-format", "json", *extra]
        env = client_env() if cloud is None else cloud[1]
        result = run_child(argv, env=env, stderr_path=self.work / f"log-{tag}.jsonl")
        result.check()
        data: dict[str, Any] = json.loads(summary.read_text()) if summary.exists() else {}
        data["report_rows"] = _count_rows(report)
        return result, data


def _count_rows(report: Path) -> int:
    with open(report, newline="", encoding="utf-8") as source:
        return sum(1 for _ in csv.DictReader(source))
