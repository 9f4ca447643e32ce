"""Prometheus metrics of a run: the registry, the node_exporter textfile, the push."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from batch_ims.errors import UsageError
from batch_ims.output.metrics import (
    RunMetrics,
    build_registry,
    check_textfile_path,
    job_name,
    push,
    read_last_success,
    write_textfile,
)
from batch_ims.output.summary import Summary

STARTED = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FINISHED = STARTED + 90.5


def _metrics(**changes: Any) -> RunMetrics:
    values: dict[str, Any] = {
        "job": "nightly",
        "started_at": STARTED,
        "finished_at": FINISHED,
        "exit_code": 0,
        "counts": {"succeeded": 7, "failed": 0, "skipped": 2},
        "requests": {"all": 9},
        "retries": 2,
        "throttled": 1,
    }
    values.update(changes)
    return RunMetrics(**values)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _exposed(metrics: RunMetrics, last_success: float | None = None) -> dict[Any, float]:
    return _samples(generate_latest(build_registry(metrics, last_success=last_success)).decode())


def test_registry_holds_every_metric_with_the_job_label() -> None:
    job = (("job", "nightly"),)

    exposed = _exposed(_metrics())

    assert exposed == {
        ("batch_ims_last_run_start_timestamp_seconds", job): STARTED,
        ("batch_ims_last_run_end_timestamp_seconds", job): FINISHED,
        ("batch_ims_last_success_timestamp_seconds", job): FINISHED,
        ("batch_ims_last_run_duration_seconds", job): 90.5,
        ("batch_ims_last_run_images", (*job, ("status", "succeeded"))): 7,
        ("batch_ims_last_run_images", (*job, ("status", "failed"))): 0,
        ("batch_ims_last_run_images", (*job, ("status", "invalid"))): 0,
        ("batch_ims_last_run_images", (*job, ("status", "skipped"))): 2,
        ("batch_ims_last_run_images", (*job, ("status", "aborted"))): 0,
        ("batch_ims_last_run_images", (*job, ("status", "drifted"))): 0,
        ("batch_ims_last_run_requests", (("job", "nightly"), ("kind", "all"))): 9,
        ("batch_ims_last_run_retries", job): 2,
        ("batch_ims_last_run_throttled", job): 1,
        ("batch_ims_last_run_exit_code", job): 0,
    }


def test_a_sharded_run_labels_every_metric_with_its_shard() -> None:
    exposed = _exposed(_metrics(shard="1/4"))

    assert {dict(labels).get("shard") for _, labels in exposed} == {"1/4"}


def test_a_failed_run_keeps_the_earlier_success_time() -> None:
    earlier = STARTED - 86_400

    exposed = _exposed(_metrics(exit_code=1), last_success=earlier)

    assert exposed[("batch_ims_last_success_timestamp_seconds", (("job", "nightly"),))] == earlier
    assert exposed[("batch_ims_last_run_exit_code", (("job", "nightly"),))] == 1


def test_a_failed_run_with_no_earlier_success_leaves_the_success_time_out() -> None:
    exposed = _exposed(_metrics(exit_code=143))

    assert "batch_ims_last_success_timestamp_seconds" not in {name for name, _ in exposed}


def test_metrics_are_built_from_the_run_summary() -> None:
    summary = Summary(
        counts={"succeeded": 3, "failed": 1, "invalid": 0, "skipped": 0, "aborted": 0},
        images=4,
        requests=6,
        requests_by_method={"GET": 2, "PATCH": 4},
        retries=2,
        throttled=1,
        duration_s=1.5,
        rate_achieved=4.0,
        rate_asked=10.0,
        in_flight_peak=3,
        latency_ms={"p50": 1.0, "p95": 2.0, "p99": 3.0},
        exit_code=1,
        report="out/report.csv",
        targets={},
    )

    metrics = RunMetrics.from_summary(
        summary, job="nightly", started_at=STARTED, finished_at=FINISHED, shard="0/2"
    )

    assert metrics == RunMetrics(
        job="nightly",
        started_at=STARTED,
        finished_at=FINISHED,
        exit_code=1,
        counts=summary.counts,
        requests={"get": 2, "patch": 4},
        retries=2,
        throttled=1,
        shard="0/2",
    )


def test_counts_cover_every_status_and_cannot_be_changed_afterwards() -> None:
    metrics = _metrics(counts={"succeeded": 1})

    assert dict(metrics.counts) == {
        "succeeded": 1,
        "failed": 0,
        "invalid": 0,
        "skipped": 0,
        "aborted": 0,
        "drifted": 0,
    }
    with pytest.raises(TypeError):
        metrics.counts["failed"] = 3  # type: ignore[index]


def test_an_empty_job_name_is_refused() -> None:
    with pytest.raises(ValueError, match="job name"):
        _metrics(job="")


@pytest.mark.parametrize(
    ("metrics_job", "job_file", "expected"),
    [
        ("migration", Path("jobs/nightly-idempotent.toml"), "migration"),
        (None, Path("jobs/nightly-idempotent.toml"), "nightly-idempotent"),
        (None, None, "batch_ims"),
    ],
)
def test_job_name_prefers_the_option_then_the_job_file(
    metrics_job: str | None, job_file: Path | None, expected: str
) -> None:
    assert job_name(metrics_job=metrics_job, job_file=job_file) == expected


def test_textfile_is_written_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "batch_ims.prom"

    with capture_logs() as logs:
        assert write_textfile(path, _metrics())

    assert _samples(path.read_text()) == _exposed(_metrics())
    assert [p.name for p in tmp_path.iterdir()] == ["batch_ims.prom"]
    assert [log["event"] for log in logs] == ["metrics.written"]


def test_textfile_of_a_failed_run_keeps_the_success_time_of_the_run_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "batch_ims.prom"
    write_textfile(path, _metrics())

    later = _metrics(started_at=FINISHED + 3600, finished_at=FINISHED + 3700, exit_code=3)
    write_textfile(path, later)

    assert read_last_success(path, job="nightly") == FINISHED
    exposed = _samples(path.read_text())
    assert exposed[("batch_ims_last_run_end_timestamp_seconds", (("job", "nightly"),))] == (
        FINISHED + 3700
    )


def test_success_time_is_read_back_only_for_the_same_job_and_shard(tmp_path: Path) -> None:
    path = tmp_path / "batch_ims.prom"
    write_textfile(path, _metrics(shard="0/2"))

    assert read_last_success(path, job="nightly", shard="0/2") == FINISHED
    assert read_last_success(path, job="nightly") is None
    assert read_last_success(path, job="other", shard="0/2") is None
    assert read_last_success(tmp_path / "missing.prom", job="nightly") is None


def test_a_damaged_textfile_is_replaced_without_an_earlier_success_time(tmp_path: Path) -> None:
    path = tmp_path / "batch_ims.prom"
    path.write_text('batch_ims_last_success_timestamp_seconds{job="nightly" 12 oops\n')

    with capture_logs() as logs:
        assert write_textfile(path, _metrics(exit_code=1))

    assert "batch_ims_last_success_timestamp_seconds" not in path.read_text()
    assert [log["event"] for log in logs] == ["metrics.previous_unreadable", "metrics.written"]


def test_textfile_that_cannot_be_written_is_an_error_event_not_an_exception(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "a-file" / "batch_ims.prom"

    with capture_logs() as logs:
        assert not write_textfile(path, _metrics())

    assert logs[0]["event"] == "metrics.write_failed"
    assert logs[0]["log_level"] == "error"


def test_textfile_path_is_checked_before_the_run(tmp_path: Path) -> None:
    check_textfile_path(tmp_path / "batch_ims.prom")
    with pytest.raises(UsageError, match=r"\*\.prom"):
        check_textfile_path(tmp_path / "batch_ims.txt")
    with pytest.raises(UsageError, match="no such folder"):
        check_textfile_path(tmp_path / "nowhere" / "batch_ims.prom")
    (tmp_path / "taken.prom").mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        check_textfile_path(tmp_path / "taken.prom")


Pushed = list[dict[str, Any]]


def _recorder(pushed: Pushed) -> Callable[..., Callable[[], None]]:
    def handler(
        url: str, method: str, timeout: float | None, headers: Any, data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            pushed.append({"url": url, "method": method, "timeout": timeout, "data": data})

        return send

    return handler


def test_push_posts_to_the_group_of_job_and_shard() -> None:
    pushed: Pushed = []

    assert push("http://127.0.0.1:9091", _metrics(shard="2/4"), handler=_recorder(pushed))

    [sent] = pushed
    shard = base64.urlsafe_b64encode(b"2/4").decode()
    assert sent["url"] == f"http://127.0.0.1:9091/metrics/job/nightly/shard@base64/{shard}"
    assert sent["method"] == "POST"  # replaces only what is sent: earlier success time stays
    assert sent["timeout"] == 5.0
    assert _samples(sent["data"].decode()) == _exposed(_metrics(shard="2/4"))


def test_push_of_a_failed_run_sends_no_success_time() -> None:
    pushed: Pushed = []

    push("http://127.0.0.1:9091", _metrics(exit_code=1), handler=_recorder(pushed))

    assert b"batch_ims_last_success_timestamp_seconds" not in pushed[0]["data"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_pushgateway_is_a_warning_not_an_exception() -> None:
    gateway = f"http://user:s3cret@127.0.0.1:{_free_port()}"

    with capture_logs() as logs:
        assert not push(gateway, _metrics(), timeout=2.0)

    [warning] = logs
    assert warning["event"] == "metrics.push_failed"
    assert warning["log_level"] == "warning"
    assert "s3cret" not in str(warning)
    assert warning["gateway"].startswith("http://127.0.0.1:")


def test_pushgateway_that_refuses_the_push_is_a_warning() -> None:
    def refusing(*args: Any, **kwargs: Any) -> Callable[[], None]:
        def send() -> None:
            raise OSError("error talking to pushgateway: 400 Bad Request")

        return send

    with capture_logs() as logs:
        assert not push("http://127.0.0.1:9091", _metrics(), handler=refusing)

    assert [log["event"] for log in logs] == ["metrics.push_failed"]


def test_malformed_pushgateway_url_is_a_warning() -> None:
    with capture_logs() as logs:
        assert not push("pushgateway:9091", _metrics())

    assert [log["event"] for log in logs] == ["metrics.push_failed"]


def test_a_run_over_several_targets_reports_each_targets_images() -> None:
    targets = {
        "ims https://ims.cn-north-4.myhuaweicloud.com region cn-north-4": {"succeeded": 2},
        "ims https://ims.eu-de.otc.t-systems.com region eu-de": {"succeeded": 1, "drifted": 1},
    }
    metrics = RunMetrics(
        job="nightly", started_at=STARTED, finished_at=FINISHED, exit_code=1, targets=targets
    )
    exposed = generate_latest(build_registry(metrics)).decode()
    assert (
        'batch_ims_last_run_target_images{job="nightly",status="drifted",'
        'target="ims https://ims.eu-de.otc.t-systems.com region eu-de"} 1.0'
    ) in exposed
    assert exposed.count("batch_ims_last_run_target_images{") == 3
