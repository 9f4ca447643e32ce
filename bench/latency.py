"""Rows 10-11: the rate asked for is the rate sent at real latencies, with default settings.

The emulator answers after an exponentially distributed delay (most answers quick, a long
tail) of 50, 250 and 1000 ms mean; `batch-ims run --rate 100` with no other option sends
1,500 PATCHes. Sending takes images / rate (15 s) at best: row 10 times it at the server,
from its first arrival to its last (the rate it saw). Finishing takes longer whatever the
client: with an exponential tail the last answers still out when sending ends come about
`mean x (ln(rate x mean) + 0.58)` later (1 s at 250 ms, 5 s at 1 s). So the whole process
(start-up included) is compared with an ideal client that sends exactly `1/rate` apart
from its first instant and meets the same seeded delays (the emulator draws them in
arrival order): it finishes at max(i / rate + delay_i). Row 11 compares the requests the
server held at once (its in-flight peak) with what the rate needs by Little's law (rate x
mean latency), plus the 2 spare workers that matter when that is a handful. Each run gets
a fresh emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.faults import Latency
from bench.context import Bench
from bench.emulator_proc import EmulatorProcess, EmulatorSpec
from bench.manifests import manifest_path, write_manifest
from bench.measure import achieved_rate
from bench.table import Row

_WALL_TARGET = {50.0: 1.10, 250.0: 1.10, 1000.0: 1.15}  # issue 23's "done when"
_DEFAULT_WALL_TARGET = 1.15
_IN_FLIGHT_TARGET = 2.0  # at most this many times what the rate needs ...
_IN_FLIGHT_SPARE = 2  # ... plus the limit's spare workers


@dataclass(frozen=True, slots=True)
class _LatencyRun:
    wall_s: float
    send_s: float
    span_s: float  # from the emulator's first arrival to its last
    achieved: float  # requests/s the emulator saw
    served_peak: int  # the most requests the emulator held at once
    client_peak: int  # the same, as the client counted them (its summary)
    succeeded: int


def _once(bench: Bench, manifest: Path, mean_ms: float, repeat: int) -> _LatencyRun:
    sizes = bench.sizes
    spec = EmulatorSpec(
        images=sizes.latency_images, latency_ms=mean_ms, latency_distribution="exponential"
    )
    tag, rate = f"latency-{mean_ms:g}-{repeat}", sizes.latency_rate
    with EmulatorProcess(spec, log_path=bench.work / f"emu-{tag}.log") as emu:
        # concurrency None: no --concurrency, the default follows the rate
        result, summary = bench.run_batch_ims(
            manifest, emu.url, rate=rate, concurrency=None, tag=tag
        )
        stats = emu.stats()
    counts = summary.get("counts", {})
    arrivals = stats["arrivals"]
    return _LatencyRun(
        wall_s=result.wall_s,
        send_s=float(summary.get("duration_s", 0.0)),
        span_s=max(arrivals) - min(arrivals) if arrivals else 0.0,
        achieved=achieved_rate(arrivals),
        served_peak=int(stats["in_flight_peak"]),
        client_peak=int(summary.get("in_flight_peak", 0)),
        succeeded=int(counts.get("succeeded", 0)) if isinstance(counts, dict) else 0,
    )


def ideal_finish(images: int, rate: float, mean_ms: float) -> float:
    """When a client sending exactly `1/rate` apart from t=0 gets its last answer, with the
    delays the emulator draws (its default seed, in arrival order)."""
    config = EmulatorConfig(latency_ms=mean_ms, latency_distribution="exponential")
    latency = Latency(config)
    return max(index / rate + latency.draw() for index in range(images))


def latency_rows(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    images, rate = sizes.latency_images, sizes.latency_rate
    manifest = write_manifest(manifest_path(bench.results, images=images), images=images)
    ideal = images / rate
    rows: list[Row] = []
    for index, mean_ms in enumerate(sizes.latency_means_ms):
        runs = [_once(bench, manifest, mean_ms, r) for r in range(sizes.latency_repeats)]
        rows.extend(_rows(index, mean_ms, runs, ideal=ideal, rate=rate, images=images))
    return rows


def _rows(
    index: int, mean_ms: float, runs: list[_LatencyRun], *, ideal: float, rate: float, images: int
) -> list[Row]:
    letter = "abcdefgh"[index]
    worst = max(runs, key=lambda r: r.span_s)
    ratio = worst.span_s / ideal
    target = _WALL_TARGET.get(mean_ms, _DEFAULT_WALL_TARGET)
    best_finish = ideal_finish(images, rate, mean_ms)
    slowest = max(r.wall_s for r in runs)
    needs = rate * mean_ms / 1000
    peak = max(r.served_peak for r in runs)
    return [
        Row(
            row=f"10{letter} --rate {rate:g} at {mean_ms:g} ms mean latency (exp.), defaults",
            measured=f"sent in {worst.span_s:.2f} s = {ratio:.3f}x {ideal:g} s; done in "
            f"{slowest:.2f} s = {slowest / best_finish:.3f}x an ideal client's "
            f"{best_finish:.2f} s",
            target=f"both <= {target:.2f}x",
            met=ratio <= target
            and slowest <= target * best_finish
            and all(r.succeeded == images for r in runs),
            notes=f"{images} PATCHes, worst of {len(runs)}. Sent: first to last arrival at "
            f"the emulator ({worst.achieved / rate:.3f}x the rate asked). Done: the whole "
            f"process, start-up included ({[round(r.wall_s / ideal, 3) for r in runs]}x "
            f"{ideal:g} s; the tail of the last answers is in both it and the ideal client's "
            f"finish); send phases {[round(r.send_s, 2) for r in runs]} s; succeeded "
            f"{[r.succeeded for r in runs]}",
            data={
                "span_s": [r.span_s for r in runs],
                "wall_s": [r.wall_s for r in runs],
                "achieved": [r.achieved for r in runs],
                "ideal_s": ideal,
                "ideal_finish_s": best_finish,
            },
        ),
        Row(
            row=f"11{letter} in flight at {mean_ms:g} ms: peak vs rate x latency",
            measured=f"{peak} = {peak / needs:.2f}x the {needs:g} the rate needs",
            target=f"<= {_IN_FLIGHT_TARGET:g}x + {_IN_FLIGHT_SPARE}",
            met=peak <= _IN_FLIGHT_TARGET * needs + _IN_FLIGHT_SPARE,
            notes="the most requests the emulator held at once, worst run; the client's "
            f"own count {[r.client_peak for r in runs]}",
            data={
                "served_peak": [r.served_peak for r in runs],
                "client_peak": [r.client_peak for r in runs],
                "needs": needs,
            },
        ),
    ]
