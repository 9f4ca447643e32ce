"""Rows 6-8: a 1M-row plan next to pandas alone, start-up, and memory as manifests grow."""

from __future__ import annotations

import sys

from bench.context import Bench
from bench.emulator_proc import EmulatorProcess, EmulatorSpec
from bench.manifests import manifest_path, write_manifest
from bench.measure import ChildResult, median, run_child
from bench.table import Row

_PLAN_TIME_MAX = 2.0
_PLAN_RSS_MAX = 1.5
_MEMORY_GROWTH_MAX = 1.2
_READ_CSV = "import sys, pandas; pandas.read_csv(sys.argv[1], dtype=str, keep_default_na=False)"


def _mb(kib: float) -> float:
    return kib / 1024


def large_manifest_rows(bench: Bench) -> list[Row]:
    images = bench.sizes.large_images
    manifest = write_manifest(manifest_path(bench.results, images=images), images=images)
    plan_argv = [*bench.batch_ims_argv(), "plan", str(manifest), "--log-format", "json"]
    pandas_argv = [sys.executable, "-c", _READ_CSV, str(manifest)]
    plans: list[ChildResult] = []
    reads: list[ChildResult] = []
    for _ in range(bench.sizes.large_repeats):
        reads.append(run_child(pandas_argv).check())
        plans.append(run_child(plan_argv, stderr_path=bench.work / "log-plan.jsonl").check())
    plan_s, read_s = median([r.wall_s for r in plans]), median([r.wall_s for r in reads])
    plan_kib = median([r.max_rss_kib for r in plans])
    read_kib = median([r.max_rss_kib for r in reads])
    rows = f"{images * 2:,} rows ({images:,} images x 2)"
    return [
        Row(
            row=f"6a plan on {rows}: time",
            measured=f"{plan_s:.2f} s = {plan_s / read_s:.2f}x read_csv ({read_s:.2f} s)",
            target=f"<= {_PLAN_TIME_MAX:g}x pandas.read_csv alone",
            met=plan_s / read_s <= _PLAN_TIME_MAX,
            notes=f"whole processes, median of {len(plans)}; "
            f"file {manifest.stat().st_size / 1e6:.0f} MB",
            data={"plan_s": [r.wall_s for r in plans], "read_csv_s": [r.wall_s for r in reads]},
        ),
        Row(
            row="6b plan on the same: peak RSS",
            measured=f"{_mb(plan_kib):.0f} MB = {plan_kib / read_kib:.2f}x read_csv "
            f"({_mb(read_kib):.0f} MB)",
            target=f"<= {_PLAN_RSS_MAX:g}x pandas.read_csv alone",
            met=plan_kib / read_kib <= _PLAN_RSS_MAX,
            notes="ru_maxrss of each child alone (os.wait4)",
            data={"plan_kib": plan_kib, "read_csv_kib": read_kib},
        ),
    ]


def startup_rows(bench: Bench) -> list[Row]:
    helps: list[ChildResult] = []
    imports: list[ChildResult] = []
    for _ in range(bench.sizes.startup_repeats):
        helps.append(run_child([*bench.batch_ims_argv(), "--help"]).check())
        imports.append(run_child([sys.executable, "-c", "import pandas"]).check())
    help_s, import_s = median([r.wall_s for r in helps]), median([r.wall_s for r in imports])
    return [
        Row(
            row="7 start-up: batch-ims --help",
            measured=f"{help_s * 1000:.0f} ms vs import pandas {import_s * 1000:.0f} ms "
            f"({help_s / import_s:.2f}x)",
            target="faster than import pandas",
            met=help_s < import_s,
            notes=f"median of {len(helps)} whole processes each, interleaved",
            data={"help_s": [r.wall_s for r in helps], "import_s": [r.wall_s for r in imports]},
        )
    ]


# What any run must hold before it sends: its modules and the validated manifest (its
# columns, as `plan` holds them; a run builds per-image records a chunk at a time).
_FRAME = (
    "import sys, batch_ims.run.pipeline\n"
    "from batch_ims.manifest import load_manifest\n"
    "manifest = load_manifest(sys.argv[1])\n"
)


def memory_rows(bench: Bench) -> list[Row]:
    """Peak RSS of whole runs at two sizes, and of the manifest's frame (the run's modules
    and the validated manifest, read in a process that sends nothing): the run's own
    memory is the run's peak beyond the frame's."""
    sizes = bench.sizes
    small, large = sizes.memory_small, sizes.memory_large
    manifests = {
        n: write_manifest(manifest_path(bench.results, images=n), images=n) for n in (small, large)
    }
    runs: dict[int, list[int]] = {small: [], large: []}
    plans: dict[int, list[int]] = {small: [], large: []}
    with EmulatorProcess(EmulatorSpec(images=large), log_path=bench.work / "emu-mem.log") as emu:
        for repeat in range(sizes.memory_repeats):
            for n in (small, large):
                result, summary = bench.run_batch_ims(
                    manifests[n], emu.url, rate=1e6, concurrency=64, tag=f"mem-{n}-{repeat}"
                )
                if summary.get("report_rows") != n:
                    raise RuntimeError(f"report of the {n}-image run is incomplete")
                runs[n].append(result.max_rss_kib)
                frame = [sys.executable, "-c", _FRAME, str(manifests[n])]
                plans[n].append(run_child(frame).check().max_rss_kib)
    run_kib = {n: median(v) for n, v in runs.items()}
    plan_kib = {n: median(v) for n, v in plans.items()}
    own = {n: run_kib[n] - plan_kib[n] for n in (small, large)}
    growth = own[large] / own[small] if own[small] > 0 else float("inf")
    per_image = (run_kib[large] - run_kib[small]) * 1024 / (large - small)
    return [
        Row(
            row=f"8 memory: run peak RSS, {small:,} -> {large:,} images",
            measured=f"{_mb(run_kib[small]):.0f} -> {_mb(run_kib[large]):.0f} MB; beyond the "
            f"manifest: {_mb(own[small]):.0f} -> {_mb(own[large]):.0f} MB ({growth:.2f}x)",
            target=f"<= {_MEMORY_GROWTH_MAX:g}x beyond the manifest for {large // small}x images",
            met=growth <= _MEMORY_GROWTH_MAX,
            notes=f"{per_image:.0f} bytes per image in all; the manifest's frame (modules and "
            f"the validated manifest, nothing sent) peaks at {_mb(plan_kib[small]):.0f} / "
            f"{_mb(plan_kib[large]):.0f} MB; report rows are spooled to disk, journal lines "
            "written as images finish",
            data={
                "run_kib": {str(k): v for k, v in runs.items()},
                "frame_kib": {str(k): v for k, v in plans.items()},
            },
        )
    ]
