"""The sdist and wheel in dist/ (`make dist`), checked and installed as a stranger would.

`make test-install` builds them and runs these: the wheel installs into a fresh venv in a
temporary folder outside the checkout, and `--version`, `demo`, `plan` on a sample,
`emulator --seed demo` and completion run from there; the unpacked sdist runs its tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_ims import __version__

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
DEMO_IMAGE = "cc67105f-acf9-542a-8592-7e6f5a5f22ec"
# tests that cover each thing the sdist must carry: harness, fakes, jobs/, bench/, man pages
SDIST_TESTS = (
    "tests/test_demo.py",
    "tests/test_completion.py",
    "tests/test_manpages.py",
    "tests/test_jobfile.py",
    "tests/test_bench_smoke.py",
    "tests/test_e2e_run.py",
)


def _one(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {DIST} (run `make dist`), got {found}"
    return found[0]


@pytest.fixture(scope="module")
def wheel() -> Path:
    return _one(f"batch_ims-{__version__}-py3-none-any.whl")


@pytest.fixture(scope="module")
def sdist() -> Path:
    return _one(f"batch_ims-{__version__}.tar.gz")


def _run(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment minus anything that would point back into the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Path]:
    """A fresh venv outside the checkout with only the wheel (and its dependencies)."""
    where = tmp_path_factory.mktemp("stranger")
    assert not where.is_relative_to(ROOT)
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(wheel)], check=True, timeout=600, cwd=where)
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    assert not tmp_path.is_relative_to(ROOT)
    return tmp_path


def test_wheel_holds_licence_sample_data_and_man_pages_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"batch_ims-{__version__}.dist-info"
    data = f"batch_ims-{__version__}.data/data/share/man/man1"
    expected = {
        f"{info}/licenses/LICENSE",
        "batch_ims/sample_data/seed-images.json",
        "batch_ims/sample_data/manifest-long.csv",
        f"{data}/batch-ims.1",
        f"{data}/batch-ims-run.1",
    }
    assert expected - names == set()
    assert [n for n in names if n.startswith(("tests/", "samples/", "bench/"))] == []
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    for line in (
        "License-Expression: Apache-2.0",
        "License-File: LICENSE",
        "Classifier: Programming Language :: Python :: 3.11",
        "Classifier: Programming Language :: Python :: 3.13",
        "Classifier: Operating System :: POSIX",
        "Requires-Python: >=3.11",
        f"Version: {__version__}",
    ):
        assert line in metadata.splitlines()
    assert "Project-URL: IMS permissions, https://" in metadata


def test_sdist_holds_what_its_tests_need(sdist: Path) -> None:
    top = f"batch_ims-{__version__}"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    expected = {
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/fakes.py",
        "tests/e2e/harness.py",
        "tests/manpages.py",
        "samples/manifest-wide.xlsx",
        "jobs/nightly-idempotent.toml",
        "bench/__main__.py",
        "docs/man/batch-ims.1",
        "batch_ims/sample_data/seed-images.json",
    }
    assert expected - names == set()
    assert [n for n in names if "__pycache__" in n or n.startswith("dist/")] == []


def test_twine_check_passes(wheel: Path, sdist: Path) -> None:
    done = _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], cwd=DIST
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_installed_version_is_the_package_version(venv: Path, outside: Path) -> None:
    done = _run(["batch-ims", "--version"], cwd=outside, env=_clean_env(venv))
    assert (done.returncode, done.stdout) == (0, f"batch-ims, version {__version__}\n")


def test_installed_demo_outside_the_checkout_exits_0_as_documented(
    venv: Path, outside: Path
) -> None:
    done = _run(["batch-ims", "demo"], cwd=outside, env=_clean_env(venv))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 succeeded, 2 failed, 2 invalid" in done.stdout
    manifest = next(line for line in done.stdout.splitlines() if line.startswith("demo: manifest"))
    assert str(venv) in manifest
    assert (outside / "demo-out" / "report.csv").is_file()


def test_installed_plan_on_a_sample_manifest(venv: Path, outside: Path) -> None:
    shutil.copy(ROOT / "samples" / "manifest-wide.xlsx", outside)
    done = _run(["batch-ims", "plan", "manifest-wide.xlsx"], cwd=outside, env=_clean_env(venv))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 images to update (12 operations), 0 invalid" in done.stdout


def test_installed_emulator_serves_the_shipped_seed(venv: Path, outside: Path) -> None:
    args = ["batch-ims", "emulator", "--seed", "demo"]
    with subprocess.Popen(
        args, cwd=outside, env=_clean_env(venv), stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().removeprefix("listening on ").strip()
            with urllib.request.urlopen(f"{url}/v2/cloudimages?id={DEMO_IMAGE}", timeout=10) as r:
                body = r.read().decode()
        finally:
            process.terminate()
    assert '"web-centos7"' in body
    assert process.returncode == 0


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_installed_completion_script_generates(venv: Path, outside: Path, shell: str) -> None:
    env = {**_clean_env(venv), "_BATCH_IMS_COMPLETE": f"{shell}_source"}
    done = _run(["batch-ims"], cwd=outside, env=env)
    assert (
        done.returncode,
        "batch-ims" in done.stdout,
        "_batch_ims_completion" in done.stdout,
    ) == (
        0,
        True,
        True,
    )


def test_installed_man_pages_are_in_the_venvs_share(venv: Path) -> None:
    pages = sorted(p.name for p in (venv / "share" / "man" / "man1").glob("batch-ims*.1"))
    assert pages == sorted(p.name for p in (ROOT / "docs" / "man").glob("*.1"))


def test_unpacked_sdist_runs_its_tests(
    tmp_path_factory: pytest.TempPathFactory, venv: Path, sdist: Path
) -> None:
    where = tmp_path_factory.mktemp("sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(where, filter="data")
    tree = where / f"batch_ims-{__version__}"
    env = _clean_env(venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    installed = _run([*pip, f"{sdist}[test,openstack]"], cwd=where, env=env, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    pytest_ = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider"]
    collected = _run([*pytest_, "--collect-only", "-q"], cwd=tree, env=env)
    assert collected.returncode == 0, collected.stdout[-3000:]
    done = _run([*pytest_, *SDIST_TESTS], cwd=tree, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.fullmatch(r"\d+ passed in .*", done.stdout.splitlines()[-1]), done.stdout[-3000:]
