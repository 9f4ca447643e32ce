"""Airflow 3: one manifest fanned out over N shards of batch-ims, exit codes mapped to retries.

Needs Airflow 3.2 or later (task SDK: `airflow.sdk`, `airflow.sdk.exceptions`); tested with
3.3.2 by `make test-airflow`. Put this file in the DAG folder; batch-ims itself may live in
another virtualenv: set BATCH_IMS_BIN to its executable, or have `batch-ims` on PATH.

Each mapped task runs

    batch-ims run MANIFEST --shard K/N --rate R/N --report OUT/RUN/shard-K.csv
        --summary-json OUT/RUN/shard-K.json --journal OUT/RUN/shard-K.journal.jsonl

(OUT/RUN: `out_dir` / the DAG run id), and its exit code decides what Airflow does:

    0        success; the shard's summary goes to XCom
    1        some images failed or rows were invalid: the report is written; fail, no retry
    2        bad manifest or options (nothing sent): fail at once, no retry
    3, 70    stopped early (credentials, failure threshold) or a bug: fail, no retry
    74       an output could not be written (disk full?): fail, no retry
    4        the endpoint could not be reached: retry later, resuming
    75       another run holds the journal lock: fail and retry later
    130, 143 stopped by a signal: retry, and the retry resumes (`--resume --journal`)

The `summarize` task adds the shards' summaries up and fails when they do not add up.

Parameters (trigger with a conf to override; their defaults come from the environment):
manifest, out_dir, shards, rate, endpoint, region, args (more `batch-ims run` options),
expected_images (0: not checked). Credentials reach batch-ims through the worker's
environment (HUAWEICLOUD_SDK_AK/SK/PROJECT_ID, or HUAWEICLOUD_SDK_CREDENTIALS_FILE).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

DAG_ID = "batch_ims_sharded"
STATUSES = ("succeeded", "failed", "invalid", "skipped", "aborted", "drifted")
GRACE_S = 30  # --grace given to batch-ims; Airflow's kill waits a little longer

NO_RETRY = {
    1: "some images failed or rows were invalid: see the report",
    2: "bad manifest or options: nothing was sent",
    3: "run aborted (credentials or failure threshold): see the hint and the report",
    70: "internal error in batch-ims: please report it",
    74: "an output could not be written (disk full?): see the error line",
}
RETRY = {
    4: "the endpoint could not be reached: the retry resumes from the journal",
    75: "another run holds the journal lock: retrying later",
    130: "stopped by SIGINT: the retry resumes from the journal",
    143: "stopped by SIGTERM: the retry resumes from the journal",
}


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dag(
    dag_id=DAG_ID,
    schedule=_env("BATCH_IMS_DAG_SCHEDULE", "17 2 * * *"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=float(_env("BATCH_IMS_DAG_RETRY_DELAY_S", "300"))),
    },
    params={
        "manifest": Param(_env("BATCH_IMS_DAG_MANIFEST", "/opt/manifest.csv"), type="string"),
        "out_dir": Param(_env("BATCH_IMS_DAG_OUT_DIR", "/opt/batch-ims/out"), type="string"),
        "shards": Param(int(_env("BATCH_IMS_DAG_SHARDS", "4")), type="integer", minimum=1),
        "rate": Param(float(_env("BATCH_IMS_DAG_RATE", "40")), type="number", exclusiveMinimum=0),
        "endpoint": Param(_env("BATCH_IMS_DAG_ENDPOINT", ""), type="string"),
        "region": Param(_env("BATCH_IMS_DAG_REGION", ""), type="string"),
        "args": Param(shlex.split(_env("BATCH_IMS_DAG_ARGS", "")), type="array"),
        "expected_images": Param(0, type="integer", minimum=0),
    },
    tags=["batch-ims"],
)
def batch_ims_sharded() -> None:
    @task
    def shard_numbers() -> list[int]:
        return list(range(get_current_context()["params"]["shards"]))

    @task(max_active_tis_per_dag=16)
    def run_shard(shard: int) -> dict[str, Any]:
        context = get_current_context()
        params = context["params"]
        outputs = _outputs(params["out_dir"], context["run_id"], shard)
        resume = context["ti"].try_number > 1
        command = _command(params, shard, outputs, resume=resume)
        code = _run(command)
        if code == 0:
            summary: dict[str, Any] = json.loads(outputs["summary"].read_text(encoding="utf-8"))
            return {"shard": shard, **summary}
        if code in NO_RETRY:
            raise AirflowFailException(f"shard {shard}: exit {code}: {NO_RETRY[code]}")
        why = RETRY.get(code, "killed: the retry resumes from the journal")
        raise AirflowException(f"shard {shard}: exit {code}: {why}")

    @task
    def summarize(summaries: list[dict[str, Any]]) -> dict[str, Any]:
        params = get_current_context()["params"]
        total = _add_up(list(summaries), shards=params["shards"])
        expected, found = params["expected_images"], total["images"]
        if expected and found != expected:
            raise AirflowFailException(f"{found} images across shards, expected {expected}")
        folder = Path(params["out_dir"]) / _safe(get_current_context()["run_id"])
        (folder / "summary.json").write_text(json.dumps(total, indent=2) + "\n", encoding="utf-8")
        return total

    summarize(run_shard.expand(shard=shard_numbers()))


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def _outputs(out_dir: str, run_id: str, shard: int) -> dict[str, Path]:
    folder = Path(out_dir) / _safe(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"shard-{shard}"
    return {
        "report": stem.with_suffix(".csv"),
        "summary": stem.with_suffix(".json"),
        "journal": stem.with_suffix(".journal.jsonl"),
    }


def _executable() -> str:
    found = os.environ.get("BATCH_IMS_BIN") or shutil.which("batch-ims")
    if not found:
        raise AirflowFailException("batch-ims not found: set BATCH_IMS_BIN or put it on PATH")
    return found


def _command(params: Any, shard: int, outputs: dict[str, Path], *, resume: bool) -> list[str]:
    shards = params["shards"]
    command = [
        _executable(),
        "run",
        params["manifest"],
        "--shard",
        f"{shard}/{shards}",
        "--rate",
        f"{params['rate'] / shards:g}",
        "--report",
        str(outputs["report"]),
        "--summary-json",
        str(outputs["summary"]),
        "--journal",
        str(outputs["journal"]),
        "--grace",
        str(GRACE_S),
        "--log-format",
        "json",
    ]
    if params["endpoint"]:
        command += ["--endpoint", params["endpoint"]]
    if params["region"]:
        command += ["--region", params["region"]]
    command += [str(arg) for arg in params["args"]]
    if resume:  # the journal of the earlier try says what is done
        command.append("--resume")
    return command


def _run(command: list[str]) -> int:
    """Run batch-ims; if Airflow stops the task, let batch-ims stop cleanly (SIGTERM, grace)."""
    print("running:", shlex.join(command), flush=True)
    with subprocess.Popen(command) as process:  # noqa: S603 (our own command line)
        try:
            return process.wait()
        except BaseException:
            process.terminate()
            try:
                process.wait(timeout=GRACE_S + 10)
            except subprocess.TimeoutExpired:
                process.kill()
            raise


def _add_up(summaries: list[dict[str, Any]], *, shards: int) -> dict[str, Any]:
    found = sorted(summary["shard"] for summary in summaries)
    if found != list(range(shards)):
        raise AirflowFailException(f"summaries of shards {found}, expected 0..{shards - 1}")
    counts = dict.fromkeys(STATUSES, 0)
    total: dict[str, Any] = {"shards": shards, "images": 0, "requests": 0, "retries": 0}
    total["throttled"] = 0
    for summary in summaries:
        if sum(summary["counts"].values()) != summary["images"]:
            raise AirflowFailException(f"shard {summary['shard']}: counts do not add up: {summary}")
        for status in STATUSES:
            counts[status] += summary["counts"].get(status, 0)
        for key in ("images", "requests", "retries", "throttled"):
            total[key] += summary[key]
    total["counts"] = counts
    if sum(counts.values()) != total["images"]:
        raise AirflowFailException(f"counts do not add up: {total}")
    return total


batch_ims_sharded()
