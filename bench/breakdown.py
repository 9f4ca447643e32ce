"""Per-image cost of each step batch-ims adds around the request, measured in isolation.

`python -m bench.breakdown [--images N]` times, over N made-up images, each step of the
per-image path with the project's own objects (no network): building the body, the URL,
signing, the outcome record, the `image.finished` log line (written to a pipe that a thread
drains, as a scheduler reads stderr), the journal line and the report row. It prints one
line per step in microseconds per image (the best of 3 passes) and the same as JSON.
The request itself (aiohttp and the event loop) is what `make bench` rows 1 and 3 compare.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yarl

_AK = "BENCHTESTAK000000001"
_SK = "bench-test-secret-0000000000000000000000"
_PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def _drained_pipe() -> tuple[io.TextIOWrapper, threading.Thread]:
    """A line-buffered text stream whose reading end a thread drains (like stderr to a pipe)."""
    read_fd, write_fd = os.pipe()

    def drain() -> None:
        while os.read(read_fd, 1 << 16):
            pass
        os.close(read_fd)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    stream = io.TextIOWrapper(open(write_fd, "wb", buffering=0), line_buffering=True)  # noqa: SIM115
    return stream, thread


def _best_us(step: Callable[[int], None], images: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for index in range(images):
            step(index)
        best = min(best, time.perf_counter() - started)
    return best / images * 1e6


def measure(images: int) -> dict[str, float]:
    """Microseconds per image for each step."""
    from batch_ims import logsetup
    from batch_ims.clouds.huawei.aksk import AkSkAuthenticator
    from batch_ims.clouds.huawei.ims import ImsService
    from batch_ims.emulator.images import generated_image_id
    from batch_ims.models import ImageTask, Op, Status, ops_json, sent
    from batch_ims.output.events import ImageEvents
    from batch_ims.output.journal import Journal
    from batch_ims.output.report import Report

    endpoint = yarl.URL("http://127.0.0.1:8080")
    service = ImsService(endpoint)
    auth = AkSkAuthenticator(
        ak=_AK,
        sk=_SK,
        security_token=None,
        project_id=_PROJECT,
        region=None,
        iam_endpoint=endpoint,
        source="bench",
        clock=time.time,
    )
    tasks = [
        ImageTask(
            generated_image_id(i),
            (Op("replace", "/name", f"bench-{i:07d}"), Op("replace", "/min_ram", "2048")),
            (2 * i + 2, 2 * i + 3),
        )
        for i in range(images)
    ]
    texts = [ops_json.__wrapped__(t.ops) for t in tasks]
    bodies = [service.body(t.ops, text) for t, text in zip(tasks, texts, strict=True)]
    requests = [service.patch(t.image_id) for t in tasks]
    outcomes = [
        sent(
            t,
            Status.SUCCEEDED,
            http_status=200,
            attempts=1,
            request_id="r",
            duration_ms=9,
            ops_text=text,
        )
        for t, text in zip(tasks, texts, strict=True)
    ]
    stream, _ = _drained_pipe()
    logsetup.configure(log_format="json", stream=stream)
    events = ImageEvents(quiet_successes=False)
    results: dict[str, float] = {}

    def sign(i: int) -> None:
        request = requests[i]
        coroutine = auth.headers(request.method, request.url, bodies[i], request.headers)
        with contextlib.suppress(StopIteration):
            coroutine.send(None)

    def record(i: int) -> None:
        sent(
            tasks[i],
            Status.SUCCEEDED,
            http_status=200,
            attempts=1,
            request_id="r",
            duration_ms=9,
            ops_text=texts[i],
        )

    def body(i: int) -> None:
        ops = tasks[i].ops
        service.body(ops, ops_json.__wrapped__(ops))

    results["body (ops JSON)"] = _best_us(body, images)
    results["image URL"] = _best_us(lambda i: service.patch(tasks[i].image_id), images)
    results["signing"] = _best_us(sign, images)
    results["outcome record"] = _best_us(record, images)

    def event(i: int) -> None:
        events.write(outcomes[i])
        if i % 256 == 255:
            events.flush()  # the progress tick, every 0.5 s: far fewer images in a real run

    results["image.finished event"] = _best_us(event, images)
    events.close()
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "j.jsonl", clock=time.monotonic, target="ims bench")
        results["journal line"] = _best_us(lambda i: journal.write(outcomes[i]), images)
        journal.close()
        report = Report(Path(folder) / "r.csv", overwrite=True)
        results["report row (spool)"] = _best_us(lambda i: report.write(outcomes[i]), images)
        started = time.perf_counter()
        report.close()
        results["report file at close"] = (time.perf_counter() - started) / (3 * images) * 1e6
    stream.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args(argv)
    results = measure(args.images)
    width = max(map(len, results))
    for name, micros in results.items():
        sys.stdout.write(f"{name:<{width}}  {micros:6.1f} us/image\n")
    sys.stdout.write(f"{'total':<{width}}  {sum(results.values()):6.1f} us/image\n")
    summary: dict[str, Any] = {k: round(v, 2) for k, v in results.items()}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
