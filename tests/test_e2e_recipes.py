"""End to end, issue 25 item 9: the Kubernetes recipes' command lines, parsed from their YAML,
run as written against the emulator, and push their metrics to the Pushgateway they name
(`http://pushgateway.monitoring.svc:9091`, plain http inside the cluster).

The cluster's service name does not resolve here: the push reaches a loopback stand-in as a
proxy would (`http_proxy`, which prometheus_client's urllib honours), with the recipe's URL
unchanged. The image service client ignores proxy variables.
"""

from __future__ import annotations

import csv
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.harness import aksk_env, cli, emulator, json_lines
from tests.test_recipes import EXAMPLES, kubernetes_command

GATEWAY = "http://pushgateway.monitoring.svc:9091"


@contextmanager
def _stand_in() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A Pushgateway stand-in on loopback, reached as a proxy: yields its URL and the
    (method, request target, body) of every request."""
    received: list[tuple[str, str, bytes]] = []

    class Gateway(BaseHTTPRequestHandler):
        def _take(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append((self.command, self.path, self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = _take

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _jobs(folder: Path) -> tuple[Path, Path]:
    """A copy of jobs/ (the recipes' /jobs volume) and a seed of the images its manifests name."""
    jobs = folder / "jobs"
    shutil.copytree(EXAMPLES.parent, jobs)
    ids: set[str] = set()
    for manifest in (jobs / "manifests").glob("*.csv"):
        with manifest.open(encoding="utf-8", newline="") as handle:
            ids.update(row["image_id"] for row in csv.DictReader(handle))
    seed = folder / "seed.json"
    images = [{"id": i, "name": f"镜像-{i[:8]}", "status": "active"} for i in sorted(ids)]
    seed.write_text(json.dumps(images), encoding="utf-8")
    return jobs, seed


@pytest.mark.parametrize(
    ("recipe", "job"),
    [("k8s-cronjob.yaml", "batch-ims-nightly"), ("k8s-indexed-job.yaml", "batch-ims-migration")],
)
def test_a_kubernetes_recipe_runs_as_written_and_pushes_its_metrics(
    tmp_path: Path, recipe: str, job: str
) -> None:
    args = kubernetes_command(recipe)
    assert args[args.index("--pushgateway") + 1] == GATEWAY
    jobs, seed = _jobs(tmp_path)
    args = [arg.replace("/jobs/", f"{jobs}/") for arg in args]
    with emulator(seed=seed) as running, _stand_in() as (proxy, received):
        env = aksk_env(http_proxy=proxy, HTTP_PROXY=proxy, no_proxy="", NO_PROXY="")
        result = cli([*args, "--endpoint", running.url, "--log-format", "json"], env=env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert [e["event"] for e in json_lines(result.stderr) if e["event"].startswith("metrics.")] == [
        "metrics.pushed"
    ]
    [(method, target, body)] = received
    assert method == "POST"
    assert target.startswith(f"{GATEWAY}/metrics/job/{job}")
    assert b'batch_ims_last_run_exit_code{job="' + job.encode() in body


def test_plain_http_to_a_pushgateway_elsewhere_needs_the_option(tmp_path: Path) -> None:
    args = ["run", str(tmp_path / "m.csv"), "--dry-run", "--pushgateway", GATEWAY]

    result = cli([*args, "--log-format", "json"])

    assert result.returncode == 2
    [error] = [e["error"] for e in json_lines(result.stderr) if e["event"] == "run.error"]
    assert "--pushgateway-allow-http" in error
