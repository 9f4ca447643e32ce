"""Rows 1-3: the floor, the official SDK in a thread pool and batch-ims, on one emulator.

Each repeat runs the three clients back to back (floor, batch-ims, SDK), so that noise
from the shared machine falls on all of them alike; medians are compared.
"""

from __future__ import annotations

import json
import sys

from bench.context import Bench
from bench.emulator_proc import EmulatorProcess, EmulatorSpec, client_env
from bench.manifests import manifest_path, write_manifest
from bench.measure import ChildResult, median, run_child
from bench.table import Row

_FLOOR_TARGET = 1.25
_SDK_TARGET = 5.0
_CONCURRENCY = 64
_THREADS = 32


def speed_rows(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    manifest = write_manifest(
        manifest_path(bench.results, images=sizes.images), images=sizes.images
    )
    floor: list[ChildResult] = []
    ours: list[ChildResult] = []
    sdk: list[ChildResult] = []
    send_s: list[float] = []
    spec = EmulatorSpec(images=sizes.images)
    with EmulatorProcess(spec, log_path=bench.work / "emulator-speed.log") as emulator:
        _floor(manifest, emulator.url)  # warm-up: the emulator's first requests are slower
        for repeat in range(sizes.repeats):
            floor.append(_floor(manifest, emulator.url))
            result, summary = bench.run_batch_ims(
                manifest, emulator.url, rate=1e6, concurrency=_CONCURRENCY, tag=f"speed-{repeat}"
            )
            _expect_report(summary, sizes.images)
            ours.append(result)
            send_s.append(float(summary.get("duration_s", 0.0)))
            sdk.append(_sdk(manifest, emulator.url, limit=sizes.sdk_images))
        statuses = emulator.stats(arrivals=False)["status_counts"]
    return _rows(bench, floor, ours, sdk, send_s, statuses)


def _floor(manifest: object, url: str) -> ChildResult:
    argv = [sys.executable, "-m", "bench.floor", str(manifest), "--endpoint", url]
    argv += ["--concurrency", str(_CONCURRENCY)]
    return run_child(argv, env=client_env()).check()


def _sdk(manifest: object, url: str, *, limit: int) -> ChildResult:
    argv = [sys.executable, "-m", "bench.sdk_pool", str(manifest), "--endpoint", url]
    argv += ["--threads", str(_THREADS), "--limit", str(limit)]
    result = run_child(argv, env=client_env(), timeout_s=900).check()
    sent = json.loads(result.stdout)["succeeded"]
    if sent != limit:
        raise RuntimeError(f"the SDK pool updated {sent} of {limit} images")
    return result


def _expect_report(summary: dict[str, object], images: int) -> None:
    counts = summary.get("counts")
    if summary.get("report_rows") != images or not isinstance(counts, dict):
        raise RuntimeError(f"batch-ims report has {summary.get('report_rows')} rows, not {images}")
    if counts.get("succeeded") != images:
        raise RuntimeError(f"batch-ims: {counts} (expected {images} succeeded)")


def _rows(
    bench: Bench,
    floor: list[ChildResult],
    ours: list[ChildResult],
    sdk: list[ChildResult],
    send_s: list[float],
    statuses: dict[str, int],
) -> list[Row]:
    n, n_sdk = bench.sizes.images, bench.sizes.sdk_images
    floor_s, ours_s, sdk_s = (median([r.wall_s for r in rs]) for rs in (floor, ours, sdk))
    floor_send = median([json.loads(r.stdout)["send_s"] for r in floor])
    sdk_per, ours_per = sdk_s / n_sdk, ours_s / n
    vs_floor, vs_sdk = ours_s / floor_s, sdk_per / ours_per
    floor_vs_sdk = sdk_per / (floor_s / n)
    runs = f"{len(floor)} runs each, interleaved"
    scaled = "" if n_sdk == n else f"; SDK sent {n_sdk} images, compared per image"
    return [
        Row(
            row="1 lean floor: build body, sign, send, read status (64 workers)",
            measured=f"{floor_s:.2f} s / {n} images ({n / floor_s:.0f}/s)",
            target="reference",
            met=None,
            notes=f"median whole process, {runs}, stderr to a pipe like batch-ims; "
            f"send phase {floor_send:.2f} s; "
            f"client CPU {median([r.cpu_s for r in floor]):.2f} s; emulator answers: {statuses}",
            data=_data(floor, n),
        ),
        Row(
            row="2 official SDK (huaweicloudsdkims), 32 threads",
            measured=f"{sdk_s:.2f} s / {n_sdk} images ({sdk_per * 1000:.2f} ms/image)",
            target="reference",
            met=None,
            notes=f"median whole process{scaled}; floor is {floor_vs_sdk:.1f}x "
            "faster per image: no client on this machine can beat the SDK by more",
            data=_data(sdk, n_sdk),
        ),
        Row(
            row="3a batch-ims vs floor (--rate 1e6 -c 64, report+journal)",
            measured=f"{ours_s:.2f} s = {vs_floor:.2f}x floor",
            target=f"<= {_FLOOR_TARGET}x floor",
            met=vs_floor <= _FLOOR_TARGET,
            notes=f"send phase {median(send_s):.2f} s (floor {floor_send:.2f} s); "
            f"client CPU {median([r.cpu_s for r in ours]):.2f} s; "
            f"peak RSS {median([r.max_rss_kib for r in ours]) / 1024:.0f} MB",
            data=_data(ours, n) | {"send_s": send_s},
        ),
        Row(
            row="3b batch-ims vs SDK pool (per image)",
            measured=f"{vs_sdk:.2f}x faster ({ours_per * 1000:.2f} vs {sdk_per * 1000:.2f} ms)",
            target=f">= {_SDK_TARGET:g}x faster",
            met=vs_sdk >= _SDK_TARGET,
            notes=f"needs batch-ims <= {floor_vs_sdk / _SDK_TARGET:.2f}x floor, since the floor "
            f"itself is {floor_vs_sdk:.1f}x the SDK (row 2)",
        ),
    ]


def _data(results: list[ChildResult], images: int) -> dict[str, object]:
    return {
        "images": images,
        "wall_s": [round(r.wall_s, 3) for r in results],
        "cpu_s": [round(r.cpu_s, 3) for r in results],
        "max_rss_kib": [r.max_rss_kib for r in results],
    }
