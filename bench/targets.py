"""Row 13: three targets in one run, each at its own --rate: total throughput grows with them.

One manifest with a `region` column names three emulators (the `stack` provider's endpoint
template `http://127.0.0.1:{region}`, each region a port); each answers after 250 ms mean
latency (exponential). The same run over one emulator is the baseline: with a budget per
target, three targets send three times the requests in about the same time. Throughput is
requests the emulators saw over the span from the first arrival to the last anywhere.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from urllib.parse import urlsplit

from batch_ims.emulator.images import generated_image_id
from bench.context import Bench
from bench.emulator_proc import EmulatorProcess, EmulatorSpec
from bench.table import Row

_MEAN_MS = 250.0
_TARGETS = 3
_GROWTH_TARGET = 2.7  # of 3x: three budgets, not one shared


def _manifest(path: Path, ports: list[str], images: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["image_id", "region", "name"])
        for index in range(images):
            image = generated_image_id(index)
            writer.writerows([image, port, f"镜像-{port}-{index}"] for port in ports)
    return path


def _throughput(bench: Bench, targets: int) -> tuple[float, int]:
    """Requests per second the emulators saw together, and how many succeeded."""
    sizes = bench.sizes
    spec = EmulatorSpec(
        images=sizes.target_images, latency_ms=_MEAN_MS, latency_distribution="exponential"
    )
    with contextlib.ExitStack() as stack:
        emulators = [
            stack.enter_context(
                EmulatorProcess(spec, log_path=bench.work / f"emu-targets-{targets}-{k}.log")
            )
            for k in range(targets)
        ]
        ports = [str(urlsplit(emu.url).port) for emu in emulators]
        manifest = _manifest(bench.work / f"targets-{targets}.csv", ports, sizes.target_images)
        _, summary = bench.run_batch_ims(
            manifest,
            "http://127.0.0.1:{region}",
            rate=sizes.target_rate,
            concurrency=None,
            tag=f"targets-{targets}",
            extra=("--provider", "stack"),
        )
        arrivals = [t for emu in emulators for t in emu.stats()["arrivals"]]
    span = max(arrivals) - min(arrivals) if len(arrivals) > 1 else 0.0
    counts = summary.get("counts", {})
    succeeded = int(counts.get("succeeded", 0)) if isinstance(counts, dict) else 0
    return (len(arrivals) / span if span > 0 else 0.0), succeeded


def target_rows(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    one, one_ok = _throughput(bench, 1)
    three, three_ok = _throughput(bench, _TARGETS)
    growth = three / one if one else 0.0
    return [
        Row(
            row=f"13 {_TARGETS} targets at --rate {sizes.target_rate:g} each vs one target",
            measured=f"{three:.1f} vs {one:.1f} requests/s = {growth:.2f}x",
            target=f">= {_GROWTH_TARGET:g}x",
            met=growth >= _GROWTH_TARGET
            and one_ok == sizes.target_images
            and three_ok == _TARGETS * sizes.target_images,
            notes=f"{sizes.target_images} PATCHes per target, {_MEAN_MS:g} ms mean latency "
            f"(exp.), defaults otherwise; succeeded {one_ok} and {three_ok}",
            data={"one_rps": one, "three_rps": three},
        )
    ]
