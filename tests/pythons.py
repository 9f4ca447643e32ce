"""The unit tier on other Pythons: `python -m tests.pythons 3.11 3.13` (`make test-pythons`).

Each version runs in its own venv cached under `${XDG_CACHE_HOME:-~/.cache}/batch-ims`,
with this checkout installed editable, rebuilt when pyproject.toml, the checkout or the
interpreter changes. The interpreter is `pythonX.Y` on PATH or one of pyenv's versions. A
version that cannot be found is skipped with a message saying so; the version this command
runs on is skipped too, since `make unit` already ran the tier on it. Exits with the first
failing run's code.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.airflow.venv import cache_dir

ROOT = Path(__file__).resolve().parent.parent
_ASK_VERSION = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


def _version_of(python: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(python), "-c", _ASK_VERSION], capture_output=True, text=True, timeout=30
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _pyenv_pythons(version: str) -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = (root / "versions").glob(f"{version}.*/bin/python{version}")

    def patch_level(path: Path) -> tuple[int, ...]:
        numbers = path.parents[1].name.split(".")
        return tuple(int(n) if n.isdigit() else -1 for n in numbers)

    return sorted(found, key=patch_level, reverse=True)


def find_python(version: str) -> tuple[Path, str] | None:
    """An interpreter of `version` (e.g. "3.13") and its full version, or None."""
    on_path = shutil.which(f"python{version}")
    candidates = [Path(on_path)] if on_path else []
    for python in [*candidates, *_pyenv_pythons(version)]:
        full = _version_of(python)  # a pyenv shim of a version not selected fails here
        if full is not None and full.rsplit(".", 1)[0] == version:
            return python, full
    return None


def _venv(version: str, python: Path, full: str) -> Path:
    """The cached venv of `version` with this checkout installed, built when stale."""
    target = cache_dir() / f"python{version}-venv"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = f"{python} {full} {ROOT} {digest}\n"
    stamp_file = target / ".batch-ims-stamp"
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / f"python{version}-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp_file.is_file() and stamp_file.read_text() == stamp:
            return target
        shutil.rmtree(target, ignore_errors=True)
        print(f"test-pythons: building {target} with Python {full}", flush=True)
        subprocess.run([str(python), "-m", "venv", str(target)], check=True)
        pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-qq"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", ".[test,openstack]"], check=True, cwd=ROOT)
        stamp_file.write_text(stamp)
    return target


def run(version: str) -> int:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version == here:
        print(
            f"test-pythons: Python {version} skipped here: `make unit` runs the unit tier on "
            f"it (this venv's Python is {sys.version.split()[0]})",
            flush=True,
        )
        return 0
    found = find_python(version)
    if found is None:
        print(
            f"test-pythons: Python {version} SKIPPED: no python{version} on PATH or among "
            "pyenv's versions on this machine",
            flush=True,
        )
        return 0
    python, full = found
    venv = _venv(version, python, full)
    print(f"test-pythons: the unit tier on Python {full} ({python})", flush=True)
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main(versions: list[str]) -> int:
    codes = [run(version) for version in versions]
    return next((code for code in codes if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
