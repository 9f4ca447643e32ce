"""A cached virtualenv holding Apache Airflow, apart from the project's own.

`python -m tests.airflow.venv` builds it ahead of the tests (the Makefile does); the
`airflow` tests build it themselves when it is missing. It lives in
`${XDG_CACHE_HOME:-~/.cache}/batch-ims/airflow-venv` and is rebuilt when its stamp (the
pinned requirement and the Python version) changes. A lock keeps two builds apart.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

AIRFLOW_REQUIREMENT = "apache-airflow==3.3.2"
STAMP = f"{AIRFLOW_REQUIREMENT} python{sys.version_info.major}.{sys.version_info.minor}\n"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "batch-ims"


def venv_dir() -> Path:
    return cache_dir() / "airflow-venv"


def airflow_bin() -> Path:
    return venv_dir() / "bin" / "airflow"


def _stamp_file() -> Path:
    return venv_dir() / ".batch-ims-stamp"


def is_ready() -> bool:
    stamp = _stamp_file()
    return airflow_bin().exists() and stamp.exists() and stamp.read_text() == STAMP


def ensure() -> Path:
    """The airflow executable of the cached venv, installing it first when needed."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / "airflow-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_ready():
            _build()
    return airflow_bin()


def _build() -> None:
    target = venv_dir()
    shutil.rmtree(target, ignore_errors=True)
    started = time.monotonic()
    print(f"installing {AIRFLOW_REQUIREMENT} into {target} ...", file=sys.stderr, flush=True)
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-qq"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, AIRFLOW_REQUIREMENT], check=True)
    _stamp_file().write_text(STAMP)
    took = time.monotonic() - started
    print(f"installed {AIRFLOW_REQUIREMENT} in {took:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    print(ensure())
