"""Rows 4-5: holding `--rate` exactly, and finding an unknown server limit alone.

Both read the emulator's arrival times or answer counts, so they judge what the server
saw, not what the client believes it sent. Each run gets a fresh emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.context import Bench
from bench.emulator_proc import EmulatorProcess, EmulatorSpec
from bench.manifests import manifest_path, write_manifest
from bench.measure import achieved_rate, max_in_window, median
from bench.table import Row

_RATE_TOLERANCE = 0.02
_ADAPTIVE_TIME_TOLERANCE = 0.15
_ADAPTIVE_THROTTLED_MAX = 0.10
_CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class _RateRun:
    achieved: float
    busiest: int
    arrivals: int


@dataclass(frozen=True, slots=True)
class _AdaptiveRun:
    wall_s: float
    send_s: float
    throttled: int
    requests: int
    succeeded: int

    @property
    def share(self) -> float:
        return self.throttled / self.requests if self.requests else 1.0


def _rate_once(bench: Bench, manifest: Path, repeat: int) -> _RateRun:
    spec = EmulatorSpec(images=bench.sizes.rate_images)
    with EmulatorProcess(spec, log_path=bench.work / "emu-rate.log") as emu:
        bench.run_batch_ims(
            manifest, emu.url, rate=bench.sizes.rate, concurrency=_CONCURRENCY, tag=f"rate-{repeat}"
        )
        arrivals = emu.stats()["arrivals"]
    return _RateRun(achieved_rate(arrivals), max_in_window(arrivals), len(arrivals))


def rate_rows(bench: Bench) -> list[Row]:
    images, rate = bench.sizes.rate_images, bench.sizes.rate
    manifest = write_manifest(manifest_path(bench.results, images=images), images=images)
    runs = [_rate_once(bench, manifest, r) for r in range(bench.sizes.rate_repeats)]
    errors = [run.achieved / rate - 1 for run in runs]
    worst = max(errors, key=abs)
    busiest = max(run.busiest for run in runs)
    window_max = int(rate * (1 + _RATE_TOLERANCE))
    return [
        Row(
            row=f"4a rate accuracy: --rate {rate:g}, {images} images",
            measured=f"{median([r.achieved for r in runs]):.2f}/s (worst {worst:+.2%})",
            target=f"within {_RATE_TOLERANCE:.0%} of {rate:g}/s",
            met=abs(worst) <= _RATE_TOLERANCE,
            notes=f"(arrivals - 1) / (last - first) at the emulator; median of {len(runs)} "
            f"runs; the worst run decides; arrivals per run {[r.arrivals for r in runs]}",
            data={"achieved": [r.achieved for r in runs]},
        ),
        Row(
            row="4b rate accuracy: busiest 1-s window",
            measured=f"{busiest} requests",
            target=f"<= {window_max} (rate + {_RATE_TOLERANCE:.0%})",
            met=busiest <= window_max,
            notes="most arrivals in any half-open window [t, t+1 s), worst of the runs: "
            f"{[r.busiest for r in runs]}",
            data={"busiest": [r.busiest for r in runs]},
        ),
    ]


def _adaptive_once(bench: Bench, manifest: Path, repeat: int) -> _AdaptiveRun:
    sizes = bench.sizes
    spec = EmulatorSpec(images=sizes.adaptive_images, rate_limit=sizes.adaptive_limit)
    with EmulatorProcess(spec, log_path=bench.work / "emu-adaptive.log") as emu:
        result, summary = bench.run_batch_ims(
            manifest,
            emu.url,
            rate=sizes.adaptive_rate,
            concurrency=_CONCURRENCY,
            tag=f"adaptive-{repeat}",
        )
        statuses = {int(k): v for k, v in emu.stats(arrivals=False)["status_counts"].items()}
    counts = summary.get("counts", {})
    return _AdaptiveRun(
        wall_s=result.wall_s,
        send_s=float(summary.get("duration_s", 0.0)),
        throttled=statuses.get(429, 0),
        requests=sum(statuses.values()),
        succeeded=int(counts.get("succeeded", 0)) if isinstance(counts, dict) else 0,
    )


def adaptive_rows(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    images, limit, ceiling = sizes.adaptive_images, sizes.adaptive_limit, sizes.adaptive_rate
    manifest = write_manifest(manifest_path(bench.results, images=images), images=images)
    runs = [_adaptive_once(bench, manifest, r) for r in range(sizes.adaptive_repeats)]
    ideal = images / limit
    wall = median([r.wall_s for r in runs])
    over = wall / ideal - 1
    share = median([r.share for r in runs])
    middle = min(runs, key=lambda r: abs(r.share - share))
    return [
        Row(
            row=f"5a adaptive: limit {limit:g}/s, --rate {ceiling:g}, {images} images",
            measured=f"{wall:.2f} s ({over:+.1%} vs ideal {ideal:g} s)",
            target=f"within {_ADAPTIVE_TIME_TOLERANCE:.0%} of {ideal:g} s",
            met=abs(over) <= _ADAPTIVE_TIME_TOLERANCE,
            notes=f"median whole process of {len(runs)} (start-up included); runs "
            f"{[round(r.wall_s, 2) for r in runs]} s; send phases "
            f"{[round(r.send_s, 2) for r in runs]} s; succeeded {[r.succeeded for r in runs]}",
            data={"wall_s": [r.wall_s for r in runs], "ideal_s": ideal},
        ),
        Row(
            row="5b adaptive: requests throttled (429)",
            measured=f"{share:.1%} (median; {middle.throttled} of {middle.requests})",
            target=f"<= {_ADAPTIVE_THROTTLED_MAX:.0%}",
            met=share <= _ADAPTIVE_THROTTLED_MAX,
            notes="429s / all IMS requests the emulator answered, retries included; runs "
            f"{[f'{r.share:.1%}' for r in runs]}",
            data={"throttled": [r.throttled for r in runs], "requests": [r.requests for r in runs]},
        ),
    ]
