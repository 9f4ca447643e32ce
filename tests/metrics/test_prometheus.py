"""Metrics against the real thing (`make test-metrics`): Debian's Prometheus Pushgateway on a
loopback port, and `promtool check metrics` on the node_exporter textfile.

tests/metrics/install-prometheus.sh installs both when they are missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from batch_ims.output.metrics import RunMetrics, push, write_textfile

pytestmark = pytest.mark.prometheus

STARTED = 1_767_225_600.0
FINISHED = STARTED + 42.0


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} missing: run tests/metrics/install-prometheus.sh (make test-metrics)"
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode("utf-8"))


@pytest.fixture
def stopped() -> list[subprocess.Popen[bytes]]:
    """The pushgateway process, for a test that stops it itself."""
    return []


@pytest.fixture
def pushgateway(tmp_path: Path, stopped: list[subprocess.Popen[bytes]]) -> Iterator[str]:
    url = f"http://127.0.0.1:{_free_port()}"
    log = (tmp_path / "pushgateway.log").open("w")
    process = subprocess.Popen(
        [_tool("prometheus-pushgateway"), f"--web.listen-address={url[len('http://') :]}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stopped.append(process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _get(f"{url}/-/ready")
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "pushgateway.log").read_text()
                assert time.monotonic() < deadline, "pushgateway did not become ready"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _metrics(**changes: Any) -> RunMetrics:
    values: dict[str, Any] = {
        "job": "migration",
        "started_at": STARTED,
        "finished_at": FINISHED,
        "exit_code": 0,
        "counts": {"succeeded": 40, "failed": 0, "invalid": 1, "skipped": 3, "aborted": 0},
        "requests": {"all": 45},
        "retries": 4,
        "throttled": 2,
        "shard": "0/2",
    }
    values.update(changes)
    return RunMetrics(**values)


def _group(url: str, **labels: str) -> dict[tuple[str, str], float]:
    """(metric, status or kind) -> value of the samples carrying `labels`."""
    found = {}
    for family in text_string_to_metric_families(_get(f"{url}/metrics")):
        for sample in family.samples:
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                detail = sample.labels.get("status") or sample.labels.get("kind") or ""
                found[(sample.name, detail)] = sample.value
    return found


def test_pushgateway_serves_what_was_pushed_for_the_job_and_shard(pushgateway: str) -> None:
    assert push(pushgateway, _metrics())

    group = _group(pushgateway, job="migration", shard="0/2")

    assert group[("batch_ims_last_run_start_timestamp_seconds", "")] == STARTED
    assert group[("batch_ims_last_run_end_timestamp_seconds", "")] == FINISHED
    assert group[("batch_ims_last_success_timestamp_seconds", "")] == FINISHED
    assert group[("batch_ims_last_run_duration_seconds", "")] == 42.0
    assert group[("batch_ims_last_run_images", "succeeded")] == 40
    assert group[("batch_ims_last_run_images", "invalid")] == 1
    assert group[("batch_ims_last_run_images", "skipped")] == 3
    assert group[("batch_ims_last_run_requests", "all")] == 45
    assert group[("batch_ims_last_run_retries", "")] == 4
    assert group[("batch_ims_last_run_throttled", "")] == 2
    assert group[("batch_ims_last_run_exit_code", "")] == 0
    assert group[("push_time_seconds", "")] > 0  # the gateway's own: it accepted the push


def test_a_failed_run_pushed_later_keeps_the_earlier_success_time(pushgateway: str) -> None:
    push(pushgateway, _metrics())

    later = FINISHED + 86_400
    assert push(pushgateway, _metrics(started_at=later - 10, finished_at=later, exit_code=1))

    group = _group(pushgateway, job="migration", shard="0/2")
    assert group[("batch_ims_last_success_timestamp_seconds", "")] == FINISHED
    assert group[("batch_ims_last_run_end_timestamp_seconds", "")] == later
    assert group[("batch_ims_last_run_exit_code", "")] == 1


def test_shards_are_separate_groups(pushgateway: str) -> None:
    push(pushgateway, _metrics(shard="0/2", exit_code=0))
    push(pushgateway, _metrics(shard="1/2", exit_code=143))

    first = _group(pushgateway, job="migration", shard="0/2")
    second = _group(pushgateway, job="migration", shard="1/2")
    assert first[("batch_ims_last_run_exit_code", "")] == 0
    assert second[("batch_ims_last_run_exit_code", "")] == 143
    assert ("batch_ims_last_success_timestamp_seconds", "") not in second


def test_a_pushgateway_that_went_away_is_only_a_warning(
    pushgateway: str, stopped: list[subprocess.Popen[bytes]]
) -> None:
    [process] = stopped
    process.terminate()
    process.wait(timeout=10)

    with capture_logs() as logs:
        assert not push(pushgateway, _metrics(), timeout=2.0)

    assert [log["event"] for log in logs] == ["metrics.push_failed"]


@pytest.mark.parametrize("exit_code", [0, 143])
def test_promtool_accepts_the_textfile(tmp_path: Path, exit_code: int) -> None:
    path = tmp_path / "batch_ims.prom"
    assert write_textfile(path, _metrics(shard=None, exit_code=0))
    assert write_textfile(path, _metrics(shard=None, exit_code=exit_code))

    checked = subprocess.run(
        [_tool("promtool"), "check", "metrics"],
        input=path.read_bytes(),
        capture_output=True,
        check=False,
        timeout=30,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b""  # no lint complaint either
    assert b"batch_ims_last_success_timestamp_seconds" in path.read_bytes()


def test_the_indexed_job_recipe_pushes_to_a_real_pushgateway_as_written(
    tmp_path: Path, pushgateway: str
) -> None:
    """The recipe's plain-http cluster URL unchanged; the push reaches the loopback gateway
    as through a proxy (prometheus_client honours http_proxy; the image client does not)."""
    from tests.e2e.harness import aksk_env, cli, emulator
    from tests.test_e2e_recipes import GATEWAY, _jobs
    from tests.test_recipes import kubernetes_command

    args = kubernetes_command("k8s-indexed-job.yaml")
    assert args[args.index("--pushgateway") + 1] == GATEWAY
    jobs, seed = _jobs(tmp_path)
    args = [arg.replace("/jobs/", f"{jobs}/") for arg in args]
    env = aksk_env(http_proxy=pushgateway, HTTP_PROXY=pushgateway, no_proxy="", NO_PROXY="")
    with emulator(seed=seed) as running:
        result = cli([*args, "--endpoint", running.url, "--log-format", "json"], env=env)

    assert result.returncode == 0, result.stderr[-3000:]
    group = _group(pushgateway, job="batch-ims-migration", shard="0/4")
    assert group[("batch_ims_last_run_exit_code", "")] == 0
    assert group[("batch_ims_last_success_timestamp_seconds", "")] > 0
