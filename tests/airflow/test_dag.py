"""The Airflow recipe run by a real Airflow (`make test-airflow`): `airflow dags test` of
jobs/examples/airflow_batch_ims.py on sqlite, its shards sending to the loopback emulator.

Airflow lives in its own cached venv (tests/airflow/venv.py); the DAG finds this project's
batch-ims through BATCH_IMS_BIN.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batch_ims.emulator.images import generated_image_id
from tests.airflow import venv
from tests.e2e.harness import aksk_env, emulator, write_csv

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]
DAG_FOLDER = ROOT / "jobs" / "examples"
DAG_ID = "batch_ims_sharded"
BATCH_IMS = Path(sys.executable).parent / "batch-ims"


@dataclass(frozen=True)
class Airflow:
    executable: Path
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "BATCH_IMS_BIN": str(BATCH_IMS),
            "BATCH_IMS_DAG_RETRY_DELAY_S": "1",
        }
        return aksk_env(**(settings | extra))

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.executable), *args],
            env=self.env(**extra),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def dags_test(self, conf: dict[str, Any], **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("dags", "test", DAG_ID, "--conf", json.dumps(conf), **extra)

    def task_instances(self) -> list[dict[str, Any]]:
        """Every task instance of the DAG's runs, oldest run first."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT ti.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number"
                " FROM task_instance ti JOIN dag_run dr"
                " ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
                " WHERE ti.dag_id = ? ORDER BY dr.id, ti.task_id, ti.map_index",
                (DAG_ID,),
            ).fetchall()
        return [dict(row) for row in rows]

    def last_run(self) -> list[dict[str, Any]]:
        rows = self.task_instances()
        last = rows[-1]["run_id"]
        return [row for row in rows if row["run_id"] == last]


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Airflow:
    home = tmp_path_factory.mktemp("airflow-home")
    found = Airflow(venv.ensure(), home)
    migrated = found.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return found


def _manifest(path: Path, ids: list[str], header: str = "image_id") -> Path:
    rows = [[header, "op", "path", "value"]]
    rows += [[image_id, "replace", "name", f"renamed-{n}"] for n, image_id in enumerate(ids)]
    return write_csv(path, rows)


def _conf(manifest: Path, out: Path, url: str, **more: Any) -> dict[str, Any]:
    conf = {"manifest": str(manifest), "out_dir": str(out), "endpoint": url, "rate": 600}
    conf.update(more)
    return conf


def _states(rows: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[str, int]]:
    return {(r["task_id"], r["map_index"]): (r["state"], r["try_number"]) for r in rows}


def test_shards_update_every_image_exactly_once_and_the_summary_adds_up(
    airflow: Airflow, tmp_path: Path
) -> None:
    ids = [generated_image_id(n) for n in range(90)]
    manifest = _manifest(tmp_path / "manifest.csv", ids)
    out = tmp_path / "out"

    with emulator(images=90) as running:
        conf = _conf(manifest, out, running.url, shards=3, expected_images=90)
        result = airflow.dags_test(conf)
        applied = dict(running.emulator.apply_counts)
        state = {image_id: dict(running.emulator.images[image_id]) for image_id in ids}

    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert applied == dict.fromkeys(ids, 1)
    assert [state[image_id]["name"] for image_id in ids] == [f"renamed-{n}" for n in range(90)]
    expected = {("shard_numbers", -1): ("success", 1), ("summarize", -1): ("success", 1)}
    expected |= {("run_shard", k): ("success", 1) for k in range(3)}
    assert _states(airflow.last_run()) == expected
    [summary_file] = out.glob("*/summary.json")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert summary["shards"] == 3
    assert summary["images"] == 90
    assert summary["counts"] == {
        "succeeded": 90,
        "failed": 0,
        "invalid": 0,
        "skipped": 0,
        "aborted": 0,
        "drifted": 0,
    }
    assert summary["requests"] == 90
    shard_images = [
        json.loads((summary_file.parent / f"shard-{k}.json").read_text())["images"]
        for k in range(3)
    ]
    assert sum(shard_images) == 90
    assert all(n > 0 for n in shard_images)  # the manifest really was split


def test_bad_manifest_header_fails_every_shard_at_once_without_retries(
    airflow: Airflow, tmp_path: Path
) -> None:
    ids = [generated_image_id(n) for n in range(10)]
    manifest = _manifest(tmp_path / "bad.csv", ids, header="imageid")
    out = tmp_path / "out"

    with emulator(images=10) as running:
        result = airflow.dags_test(_conf(manifest, out, running.url, shards=2))
        applied = dict(running.emulator.apply_counts)

    assert result.returncode != 0
    assert applied == {}
    expected = {("shard_numbers", -1): ("success", 1), ("summarize", -1): ("upstream_failed", 0)}
    expected |= {("run_shard", k): ("failed", 1) for k in range(2)}
    assert _states(airflow.last_run()) == expected
    assert "exit 2: bad manifest or options" in result.stdout + result.stderr


@pytest.mark.parametrize("first_exit", [143, 4], ids=["sigterm", "unreachable"])
def test_a_shard_stopped_by_sigterm_or_an_unreachable_endpoint_is_retried_with_resume(
    airflow: Airflow, tmp_path: Path, first_exit: int
) -> None:
    """A stand-in executable exits `first_exit` on a shard's first try (143: stopped by a
    signal; 4: the endpoint or the sign-in could not be reached), then runs the real one."""
    calls = tmp_path / "calls.jsonl"
    stand_in = tmp_path / "batch-ims"
    stand_in.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {calls}\n'
        f'case " $* " in *" --resume "*) ;; *) exit {first_exit} ;; esac\n'
        f'exec {BATCH_IMS} "$@"\n'
    )
    stand_in.chmod(0o755)
    ids = [generated_image_id(n) for n in range(20)]
    manifest = _manifest(tmp_path / "manifest.csv", ids)

    with emulator(images=20) as running:
        conf = _conf(manifest, tmp_path / "out", running.url, shards=2, expected_images=20)
        result = airflow.dags_test(conf, BATCH_IMS_BIN=str(stand_in))
        applied = dict(running.emulator.apply_counts)

    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert applied == dict.fromkeys(ids, 1)
    expected = {("shard_numbers", -1): ("success", 1), ("summarize", -1): ("success", 1)}
    expected |= {("run_shard", k): ("success", 2) for k in range(2)}
    assert _states(airflow.last_run()) == expected
    lines = calls.read_text().splitlines()
    assert len(lines) == 4
    for k in range(2):
        first, retry = [line for line in lines if f"--shard {k}/2 " in line]
        assert "--resume" not in first
        assert "--resume" in retry
        assert f"shard-{k}.journal.jsonl" in retry


def test_a_shard_with_a_failed_image_fails_after_its_report_without_retries(
    airflow: Airflow, tmp_path: Path
) -> None:
    ids = [generated_image_id(n) for n in range(10)]
    missing = "9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a"  # not in the emulator: 404
    manifest = _manifest(tmp_path / "manifest.csv", [*ids, missing])
    out = tmp_path / "out"

    with emulator(images=10) as running:
        result = airflow.dags_test(_conf(manifest, out, running.url, shards=1))
        applied = dict(running.emulator.apply_counts)

    assert result.returncode != 0
    assert applied == dict.fromkeys(ids, 1)
    expected = {("shard_numbers", -1): ("success", 1), ("summarize", -1): ("upstream_failed", 0)}
    expected |= {("run_shard", 0): ("failed", 1)}
    assert _states(airflow.last_run()) == expected
    [report] = out.glob("*/shard-0.csv")
    assert f"{missing},failed,404" in report.read_text(encoding="utf-8")
