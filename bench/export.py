"""Row 10: `batch-ims export` of 100,000 images from the emulator: time and peak memory.

The emulator (its own process) caps list pages at 500 images while the export asks for
1,000, so the export follows 200 pages of markers. The same export of 10,000 images gives
the memory that does not grow with the images; what grows from 10,000 to 100,000 is the
export's own per-image memory. Rows wait in a spool file, so that growth is the ids seen
(to write no image twice), not the rows: the target bounds it at 256 bytes an image, far
below one parsed image (about 4 KB).
"""

from __future__ import annotations

import csv

from bench.context import Bench
from bench.emulator_proc import EmulatorProcess, EmulatorSpec, client_env
from bench.measure import ChildResult, median, run_child
from bench.table import Row

PAGE_CAP = 500
PAGE_SIZE = 1000
_BYTES_PER_IMAGE_MAX = 256


def _export(bench: Bench, url: str, images: int, tag: str) -> ChildResult:
    out = bench.work / f"export-{tag}.csv"
    out.unlink(missing_ok=True)
    argv = [*bench.batch_ims_argv(), "export", "--endpoint", url, "--out", str(out)]
    argv += ["--page-size", str(PAGE_SIZE), "--rate", "1000000", "--log-format", "json"]
    result = run_child(argv, env=client_env(), stderr_path=bench.work / f"log-{tag}.jsonl")
    result.check()
    with out.open(encoding="utf-8-sig", newline="") as source:
        written = sum(1 for _ in csv.DictReader(source))
    if written != images:
        raise RuntimeError(f"the export of {images} images wrote {written} rows")
    return result


def export_rows(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    small, large = sizes.export_small, sizes.export_large
    runs: dict[int, list[ChildResult]] = {small: [], large: []}
    for n in (small, large):
        spec = EmulatorSpec(images=n, page_cap=PAGE_CAP)
        with EmulatorProcess(spec, log_path=bench.work / f"emu-export-{n}.log") as emu:
            for repeat in range(sizes.export_repeats):
                runs[n].append(_export(bench, emu.url, n, f"export-{n}-{repeat}"))
    wall = {n: median([r.wall_s for r in results]) for n, results in runs.items()}
    rss = {n: median([r.max_rss_kib for r in results]) for n, results in runs.items()}
    per_image = (rss[large] - rss[small]) * 1024 / (large - small)
    pages = -(-large // PAGE_CAP) + 1  # and the empty page that ends the list
    return [
        Row(
            row=f"12a export {large:,} images: time",
            measured=f"{wall[large]:.1f} s ({large / wall[large]:,.0f} images/s)",
            target="-",
            met=None,
            notes=f"{pages} list pages of {PAGE_CAP} (the emulator's cap; {PAGE_SIZE} asked), "
            f"CSV out, whole process, median of {len(runs[large])}",
            data={"wall_s": {str(n): [r.wall_s for r in v] for n, v in runs.items()}},
        ),
        Row(
            row=f"12b export: peak RSS, {small:,} -> {large:,} images",
            measured=f"{rss[small] / 1024:.0f} -> {rss[large] / 1024:.0f} MB "
            f"({per_image:.0f} bytes per image)",
            target=f"<= {_BYTES_PER_IMAGE_MAX} bytes per image (one page held, rows spooled)",
            met=per_image <= _BYTES_PER_IMAGE_MAX,
            notes="ru_maxrss of each export alone (os.wait4); what grows is the set of ids "
            "seen, not rows or pages",
            data={"rss_kib": {str(n): [r.max_rss_kib for r in v] for n, v in runs.items()}},
        ),
    ]
