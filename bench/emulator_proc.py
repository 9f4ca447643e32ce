"""The emulator in its own process, so that a measured client has its CPU core to itself.

The bench's key pair is made up for loopback only; it reaches the emulator through its
environment variables, never through its command line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

BENCH_AK = "BENCHAKLOOPBACK0000001"
BENCH_SK = "bench-loopback-secret-not-a-real-key"  # a made-up key for loopback only
BENCH_PROJECT_ID = "0b1e5c2a9d8f4e6b8a7c6d5e4f3a2b1c"
BENCH_IAM_USER = ("Default", "bench")
BENCH_IAM_PASSWORD = "bench-loopback-password-not-real"
_READY = "listening on "
_START_TIMEOUT_S = 120.0


def client_env() -> dict[str, str]:
    """This process's environment plus the credentials batch-ims and the SDK read."""
    env = dict(os.environ)
    env.update(
        HUAWEICLOUD_SDK_AK=BENCH_AK,
        HUAWEICLOUD_SDK_SK=BENCH_SK,
        HUAWEICLOUD_SDK_PROJECT_ID=BENCH_PROJECT_ID,
    )
    env.pop("HUAWEICLOUD_SDK_SECURITY_TOKEN", None)
    return env


@dataclass(frozen=True, slots=True)
class EmulatorSpec:
    images: int
    rate_limit: float | None = None
    latency_ms: float = 0.0
    latency_distribution: str = "constant"
    page_cap: int | None = None  # most images per list page (the emulator's default: 1000)


class EmulatorProcess:
    """`python -m batch_ims emulator` with the bench's keys; stopped with SIGINT on exit."""

    def __init__(self, spec: EmulatorSpec, *, log_path: Path) -> None:
        self._spec = spec
        self._log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> EmulatorProcess:
        argv = [sys.executable, "-m", "batch_ims", "emulator", "--port", "0"]
        argv += ["--images", str(self._spec.images), "--project-id", BENCH_PROJECT_ID]
        argv += ["--iam-user", "/".join(BENCH_IAM_USER)]
        if self._spec.rate_limit is not None:
            argv += ["--rate-limit", f"{self._spec.rate_limit:g}"]
        if self._spec.page_cap is not None:
            argv += ["--page-cap", str(self._spec.page_cap)]
        if self._spec.latency_ms:
            argv += ["--latency-ms", f"{self._spec.latency_ms:g}"]
            argv += ["--latency-dist", self._spec.latency_distribution]
        env = dict(
            os.environ,
            BATCH_IMS_EMULATOR_AK=BENCH_AK,
            BATCH_IMS_EMULATOR_SK=BENCH_SK,
            BATCH_IMS_EMULATOR_IAM_PASSWORD=BENCH_IAM_PASSWORD,
        )
        with open(self._log_path, "w") as log:
            self._proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, env=env, text=True
            )
        self.url = self._wait_ready(self._proc)
        return self

    def _wait_ready(self, proc: subprocess.Popen[str]) -> str:
        timer = threading.Timer(_START_TIMEOUT_S, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(_READY):
                    return line[len(_READY) :].strip()
        finally:
            timer.cancel()
        self._stop()
        raise RuntimeError(f"the emulator did not start; see {self._log_path}")

    def stats(self, *, arrivals: bool = True) -> dict[str, Any]:
        query = "" if arrivals else "?arrivals=false"
        with urllib.request.urlopen(f"{self.url}/_emulator/stats{query}", timeout=60) as answer:
            data: dict[str, Any] = json.load(answer)
        return data

    def _stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
