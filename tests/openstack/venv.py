"""The separate, cached virtual environment that holds Keystone, Glance and gunicorn.

It lives in `${XDG_CACHE_HOME:-~/.cache}/batch-ims/openstack-venv` and carries a stamp of the
requirements it was built from: a changed pin (or another Python) rebuilds it, an unchanged one
reuses it. A lock file keeps two builders from racing.

    python -m tests.openstack.venv      # build it (or report that it is current)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

# One OpenStack release line, known to install and run on Python 3.11; every other package is
# pinned by constraints.txt beside this file.
REQUIREMENTS = (
    "keystone==30.0.0",
    "glance==33.0.0",
    "gunicorn==23.0.0",
)
CONSTRAINTS = Path(__file__).with_name("constraints.txt")
_LAYOUT = "1"  # bump when the build steps below change


def version_stamp() -> str:
    """What the venv was built from: the layout, the Python and the requirements."""
    python = ".".join(str(part) for part in sys.version_info[:2])
    lines = (f"layout {_LAYOUT}", f"python {python}", *REQUIREMENTS, CONSTRAINTS.read_text())
    return "\n".join(lines)


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "batch-ims"


def venv_dir(env: Mapping[str, str] | None = None) -> Path:
    return cache_root(env) / "openstack-venv"


def _stamp_file(venv: Path) -> Path:
    return venv / ".batch-ims-stamp"


def is_current(venv: Path) -> bool:
    stamp = _stamp_file(venv)
    return stamp.is_file() and stamp.read_text() == version_stamp()


def _build(venv: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--constraint", str(CONSTRAINTS), *REQUIREMENTS], check=True)
    _stamp_file(venv).write_text(version_stamp())


def ensure_venv(env: Mapping[str, str] | None = None) -> Path:
    """The server venv, built first if missing or stale. Returns its directory."""
    venv = venv_dir(env)
    if is_current(venv):
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / "openstack-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_current(venv):  # another builder may have finished while we waited
            started = time.monotonic()
            print(f"building {venv} (a few minutes, once)", file=sys.stderr, flush=True)
            _build(venv)
            print(f"built in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return venv


if __name__ == "__main__":
    print(ensure_venv())
