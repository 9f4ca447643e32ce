"""Rows 1-3: the floor, the official SDK in a thread pool and batch-ims, on one emulator.

The floor and batch-ims run in pairs, back to back, the order alternating from pair to
pair; the ratio is taken within each pair and the median of those ratios is the figure,
so that the shared machine's drift (the same command's time moves by 10-20 % from one
minute to the next here) falls on both sides of every ratio. The SDK pool runs after the
first `repeats` pairs and is compared with the batch-ims run just before it.
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

        def run_ours(tag: str) -> ChildResult:
            result, summary = bench.run_batch_ims(
                manifest, emulator.url, rate=1e6, concurrency=_CONCURRENCY, tag=tag
            )
            _expect_report(summary, sizes.images)
            send_s.append(float(summary.get("duration_s", 0.0)))
            return result

        _floor(manifest, emulator.url)  # warm-up: the emulator's first requests are slower
        run_ours("speed-warm-up")
        send_s.clear()
        for pair in range(sizes.pairs):
            if pair % 2:
                ours.append(run_ours(f"speed-{pair}"))
                floor.append(_floor(manifest, emulator.url))
            else:
                floor.append(_floor(manifest, emulator.url))
                ours.append(run_ours(f"speed-{pair}"))
            if pair < sizes.repeats:
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
    floor_sends = [json.loads(r.stdout)["send_s"] for r in floor]
    vs_floor_each = [o.wall_s / f.wall_s for f, o in zip(floor, ours, strict=True)]
    send_each = [o / f for f, o in zip(floor_sends, send_s, strict=True)]
    vs_sdk_each = [(s.wall_s / n_sdk) / (o.wall_s / n) for s, o in zip(sdk, ours, strict=False)]
    floor_vs_sdk_each = [
        (s.wall_s / n_sdk) / (f.wall_s / n) for s, f in zip(sdk, floor, strict=False)
    ]
    vs_floor, vs_sdk = median(vs_floor_each), median(vs_sdk_each)
    floor_vs_sdk = median(floor_vs_sdk_each)
    sdk_per = sdk_s / n_sdk
    pairs = f"{len(floor)} pairs, order alternating"
    scaled = "" if n_sdk == n else f"; SDK sent {n_sdk} images, compared per image"
    return [
        Row(
            row="1 lean floor: build body, sign, send, read status (64 workers)",
            measured=f"{floor_s:.2f} s / {n} images ({n / floor_s:.0f}/s)",
            target="reference",
            met=None,
            notes=f"median whole process, {pairs}, stderr to a pipe like batch-ims; "
            f"send phase {median(floor_sends):.2f} s; "
            f"client CPU {median([r.cpu_s for r in floor]):.2f} s; emulator answers: {statuses}",
            data=_data(floor, n) | {"send_s": floor_sends},
        ),
        Row(
            row="2 official SDK (huaweicloudsdkims), 32 threads",
            measured=f"{sdk_s:.2f} s / {n_sdk} images ({sdk_per * 1000:.2f} ms/image)",
            target="reference",
            met=None,
            notes=f"median whole process, {len(sdk)} runs{scaled}; the floor is "
            f"{floor_vs_sdk:.1f}x faster per image (median of each SDK run against the floor "
            "of its pair): no client on this machine can beat the SDK by more",
            data=_data(sdk, n_sdk),
        ),
        Row(
            row="3a batch-ims vs floor (--rate 1e6 -c 64, report+journal)",
            measured=f"{vs_floor:.2f}x floor ({ours_s:.2f} s)",
            target=f"<= {_FLOOR_TARGET}x floor",
            met=vs_floor <= _FLOOR_TARGET,
            notes=f"median of {len(vs_floor_each)} pair ratios ({_spread(vs_floor_each)}); "
            f"send phase {median(send_s):.2f} s, {median(send_each):.2f}x the floor's "
            f"({_spread(send_each)}); client CPU {median([r.cpu_s for r in ours]):.2f} s; "
            f"peak RSS {median([r.max_rss_kib for r in ours]) / 1024:.0f} MB",
            data=_data(ours, n)
            | {"send_s": send_s, "ratio_each": [round(r, 3) for r in vs_floor_each]},
        ),
        Row(
            row="3b batch-ims vs SDK pool (per image)",
            measured=f"{vs_sdk:.2f}x faster ({ours_s / n * 1000:.2f} vs {sdk_per * 1000:.2f} ms)",
            target=f">= {_SDK_TARGET:g}x faster",
            met=vs_sdk >= _SDK_TARGET,
            notes=f"median of {len(vs_sdk_each)} SDK runs, each against the batch-ims run of "
            f"its pair ({_spread(vs_sdk_each)}); needs batch-ims <= "
            f"{floor_vs_sdk / _SDK_TARGET:.2f}x floor, since the floor itself is "
            f"{floor_vs_sdk:.1f}x the SDK (row 2)",
            data={"ratio_each": [round(r, 3) for r in vs_sdk_each]},
        ),
    ]


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def _data(results: list[ChildResult], images: int) -> dict[str, object]:
    return {
        "images": images,
        "wall_s": [round(r.wall_s, 3) for r in results],
        "cpu_s": [round(r.cpu_s, 3) for r in results],
        "max_rss_kib": [r.max_rss_kib for r in results],
    }
