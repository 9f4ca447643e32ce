"""`python -m bench [--quick] [--only GROUP,...]`: run every row, print the table, write JSON."""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.context import Bench, Sizes
from bench.encoding import encoding_rows
from bench.export import export_rows
from bench.footprint import large_manifest_rows, memory_rows, startup_rows
from bench.glance import glance_rows
from bench.latency import latency_rows
from bench.rate import adaptive_rows, rate_rows
from bench.speed import speed_rows
from bench.table import Row, format_table, write_json
from bench.targets import target_rows

GROUPS: dict[str, Callable[[Bench], list[Row]]] = {
    "speed": speed_rows,
    "glance": glance_rows,
    "rate": rate_rows,
    "adaptive": adaptive_rows,
    "latency": latency_rows,
    "manifest": large_manifest_rows,
    "startup": startup_rows,
    "memory": memory_rows,
    "encoding": encoding_rows,
    "export": export_rows,
    "targets": target_rows,
}
RESULTS = Path(__file__).resolve().parent / "results"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Small sizes, one run each.")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"Comma-separated groups of: {', '.join(GROUPS)}"
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    return args


def _run_group(name: str, bench: Bench) -> tuple[list[Row], bool]:
    started = time.perf_counter()
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    try:
        rows = GROUPS[name](bench)
    except Exception as exc:
        traceback.print_exc()
        reason = " ".join(str(exc).split())[:300]
        return [Row(row=f"{name}", measured="error", target="-", met=False, notes=reason)], False
    print(f"bench: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return rows, True


def _meta(quick: bool, sizes: Sizes, started: float) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "sizes": asdict(sizes),
        "total_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "commit": commit or None,
    }


def _compile_sources() -> None:
    """Byte-compile batch_ims and bench, as `pip install` does for an installed package.

    An editable install run where PYTHONDONTWRITEBYTECODE is set (as in many CI images)
    would otherwise compile every module from source at each start, a cost no installed
    copy pays."""
    root = Path(__file__).resolve().parent.parent
    for package in ("batch_ims", "bench"):
        if not compileall.compile_dir(root / package, quiet=1):
            raise SystemExit(f"bench: cannot byte-compile {package}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _compile_sources()
    sizes = Sizes.quick() if args.quick else Sizes()
    bench = Bench(sizes=sizes, results=RESULTS, quick=args.quick)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    rows: list[Row] = []
    all_ran = True
    for name in args.only.split(","):
        group_rows, ran = _run_group(name, bench)
        rows.extend(group_rows)
        all_ran = all_ran and ran
    meta = _meta(args.quick, sizes, started) | {"load_average_at_start": load}
    write_json(args.json, rows, meta=meta)
    print(format_table(rows))
    print(
        f"\n{sum(r.met is True for r in rows)} of {sum(r.met is not None for r in rows)} "
        f"targets met in {meta['total_s']:.0f} s ({'quick' if args.quick else 'full'} run, "
        f"{os.cpu_count()} CPUs, load {load:.1f} at start); JSON: {args.json}"
    )
    return 0 if all_ran else 1


if __name__ == "__main__":
    sys.exit(main())
