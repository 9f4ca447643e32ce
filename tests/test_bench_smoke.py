"""The bench's own logic (no timings): window counting, rates, the table, the floor's signing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from huaweicloudsdkcore.auth.credentials import BasicCredentials  # type: ignore[import-untyped]
from huaweicloudsdkcore.sdk_request import SdkRequest  # type: ignore[import-untyped]

from batch_ims.clouds.huawei import signer
from bench.context import Sizes
from bench.floor import CONTENT_TYPE, signed_headers
from bench.latency import ideal_finish
from bench.manifests import read_tasks, write_manifest
from bench.measure import achieved_rate, max_in_window
from bench.table import Row, format_table, to_json

AK = "BENCHTESTAK000000001"
SK = "bench-test-secret-0000000000000000000000"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
DATE = "20240315T081500Z"
IMAGE_PATH = "/v2/cloudimages/4f5a3d2e-1b0c-4a9e-8d7f-6c5b4a392817"
BODY = b'[{"op":"replace","path":"/name","value":"bench-0000001"}]'


def test_window_counts_evenly_spaced_arrivals_as_the_rate() -> None:
    arrivals = [i / 64 for i in range(512)]  # 64/s for 8 s, exact in binary

    assert max_in_window(arrivals) == 64


def test_window_is_half_open_so_an_arrival_one_second_later_is_not_counted() -> None:
    assert max_in_window([0.0, 1.0, 2.0]) == 1
    assert max_in_window([0.0, 0.999, 2.0]) == 2


def test_window_finds_a_burst_in_the_middle_of_unsorted_arrivals() -> None:
    steady = [i * 0.1 for i in range(100)]  # 10/s
    burst = [5.0 + i * 0.001 for i in range(30)]

    assert max_in_window(list(reversed(steady + burst))) == 30 + 10


def test_window_of_no_arrivals_is_zero() -> None:
    assert max_in_window([]) == 0


def test_achieved_rate_counts_intervals_between_first_and_last_arrival() -> None:
    arrivals = [10.0 + i * 0.02 for i in range(101)]

    assert abs(achieved_rate(arrivals) - 50.0) < 1e-9
    assert achieved_rate([3.0]) == 0.0


def test_table_shows_met_as_yes_no_or_dash_and_wraps_long_notes() -> None:
    rows = [
        Row("floor", "2.00 s", "reference", None),
        Row("ours", "2.40 s = 1.20x floor", "<= 1.25x floor", True, notes="word " * 30),
        Row("sdk", "3.00x", ">= 5x", False),
    ]

    lines = format_table(rows, notes_width=40).splitlines()

    assert lines[0].split(" | ") == [
        "row  ",
        "measured            ",
        "target        ",
        "met",
        "notes",
    ]
    assert [line.split(" | ")[3].strip() for line in lines[2:] if line[0] != " "] == [
        "-",
        "yes",
        "no",
    ]
    assert max(len(line.split(" | ")[-1]) for line in lines[2:]) <= 40
    assert len(lines) == 2 + 3 + 3  # "word " * 30 wraps onto 4 lines of at most 40


def test_json_holds_every_row_with_met_as_a_boolean_or_null() -> None:
    rows = [Row("a", "1", "t", True, data={"x": [1, 2]}), Row("b", "2", "t", None)]

    payload = json.loads(to_json(rows, meta={"quick": True}))

    assert payload["meta"] == {"quick": True}
    assert [(r["row"], r["met"], r["data"]) for r in payload["rows"]] == [
        ("a", True, {"x": [1, 2]}),
        ("b", None, {}),
    ]


def test_floor_signs_exactly_as_the_official_sdk_does() -> None:
    host = "127.0.0.1:8080"
    request = SdkRequest(
        method="PATCH",
        schema="http",
        host=host,
        resource_path=IMAGE_PATH,
        query_params=[],
        header_params={"Content-Type": CONTENT_TYPE, "X-Sdk-Date": DATE},
        body=BODY,
    )
    official = BasicCredentials(AK, SK, PROJECT).sign_request(request).header_params

    ours = signed_headers(
        ak=AK, sk=SK.encode(), project_id=PROJECT, host=host, path=IMAGE_PATH, body=BODY, date=DATE
    )

    assert ours["Authorization"] == official["Authorization"]


def test_floor_requests_pass_the_emulators_verifier() -> None:
    headers = signed_headers(
        ak=AK, sk=SK.encode(), project_id=PROJECT, host="h:1", path=IMAGE_PATH, body=BODY, date=DATE
    )

    verdict = signer.verify(
        lookup_sk={AK: SK}.get,
        method="PATCH",
        raw_path=IMAGE_PATH,
        query=[],
        headers=headers,
        body=BODY,
        now=datetime(2024, 3, 15, 8, 16, tzinfo=UTC),
    )

    assert (verdict.ok, verdict.reason) == (True, "ok")


def test_bench_manifest_gives_two_ops_per_image_in_row_order(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.csv", images=3)

    tasks = read_tasks(manifest)

    assert len(tasks) == 3
    assert [len(set(image_id for image_id, _ in tasks))] == [3]
    assert [[op["path"] for op in ops] for _, ops in tasks] == [["/name", "/min_ram"]] * 3
    assert tasks[1][1][0] == {"op": "replace", "path": "/name", "value": "bench-0000001"}


def test_quick_sizes_are_smaller_than_the_full_run() -> None:
    full, quick = Sizes(), Sizes.quick()

    assert quick.images < full.images
    assert quick.large_images < full.large_images
    assert quick.memory_large / quick.memory_small > 1


def test_the_ideal_client_finishes_after_its_last_send_by_the_slowest_tail() -> None:
    finish = ideal_finish(1500, 100.0, 250.0)

    assert finish > 1499 / 100.0  # never before the last send ...
    assert finish == ideal_finish(1500, 100.0, 250.0)  # ... and the same seeded delays
    assert ideal_finish(1500, 100.0, 1000.0) > finish + 2.0  # a longer tail, a later end
