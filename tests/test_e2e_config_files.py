"""End to end, issue 25's config files: a clouds.yaml, secure.yaml or job file that another user
owns or may write is refused before anything is read from it or sent (exit 2, one line naming
the file, its owner and mode, and what is accepted); YAML and TOML are bounded before parsing.

The victim's own clouds.yaml and secure.yaml are in a HOME of tmp_path; the planted files are
chowned to nobody (as root, which the tests and CI run as). A second emulator stands for the
planter's host: what it received is the proof that nothing leaked."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import (
    cli,
    emulator,
    give_to_another_user,
    json_lines,
    refusal,
    write_csv,
)

USER = ("Default", "运维", "victim-pw-5f0c2a")
SIGN_IN = "POST /v3/auth/tokens"
PATCH = "PATCH /v2/images/{image_id}"


def _cloud(url: str, *, password: str | None = None) -> dict[str, Any]:
    auth = {
        "auth_url": url + "/v3",
        "username": USER[1],
        "project_name": "RegionOne",
        "user_domain_name": USER[0],
        "project_domain_name": USER[0],
    }
    if password is not None:
        auth["password"] = password
    return {"auth_type": "password", "auth": auth, "identity_api_version": 3}


def _write_yaml(path: Path, clouds: dict[str, Any], mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"clouds": clouds}, allow_unicode=True), encoding="utf-8")
    path.chmod(mode)
    return path


def _victim(tmp_path: Path, url: str) -> dict[str, str]:
    """The victim's HOME: clouds.yaml names the cloud, secure.yaml holds its password."""
    home = tmp_path / "home"
    config = home / ".config" / "openstack"
    _write_yaml(config / "clouds.yaml", {"emu": _cloud(url)})
    _write_yaml(config / "secure.yaml", {"emu": {"auth": {"password": USER[2]}}})
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "HUAWEICLOUD_SDK_", "BATCH_IMS_", "XDG_"))
    }
    env["HOME"] = str(home)
    return env


def _shared_folder(tmp_path: Path) -> Path:
    """A folder everyone may write, like /tmp: where cron jobs of several users start."""
    shared = tmp_path / "共享"
    shared.mkdir()
    shared.chmod(0o1777)
    return shared


def _manifest(folder: Path) -> Path:
    return write_csv(folder / "m.csv", [["image_id", "name"], [generated_image_id(1), "新名字"]])


def _error(stderr: str) -> str:
    (line,) = [e["error"] for e in json_lines(stderr) if e["event"] == "run.error"]
    return str(line)


def _run_cloud(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`run --cloud emu` started in `cwd`; manifest and report in a folder of their own."""
    out = cwd.parent / "out"
    out.mkdir(exist_ok=True)
    args = ["run", str(_manifest(out)), "--cloud", "emu", "--log-format", "json"]
    return cli([*args, "--report", str(out / "r.csv")], env=env, cwd=cwd)


def test_a_clouds_yaml_planted_in_the_working_folder_is_refused_and_gets_no_password(
    tmp_path: Path,
) -> None:
    shared = _shared_folder(tmp_path)
    with (
        emulator(images=2, keys=(), iam_users=(USER,)) as victims,
        emulator(images=2, keys=(), iam_users=()) as planters,
    ):
        env = _victim(tmp_path, victims.url)
        planted = _write_yaml(shared / "clouds.yaml", {"emu": _cloud(planters.url)}, 0o644)
        give_to_another_user(planted)
        result = _run_cloud(shared, env)
        to_planter = dict(planters.emulator.request_counts)
        to_victim = dict(victims.emulator.request_counts)

    assert result.returncode == 2, result.stderr[-2000:]
    assert _error(result.stderr) == refusal(
        "OpenStack config file", planted, "is owned by another user"
    )
    assert (to_planter, to_victim) == ({}, {})
    assert USER[2] not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("name", "mode", "planted", "reason"),
    [
        ("clouds.yaml", 0o664, False, "is writable by group"),
        ("clouds.yaml", 0o646, False, "is writable by others"),
        ("secure.yaml", 0o600, True, "is owned by another user"),
        ("secure.yaml", 0o666, False, "is writable by group and others"),
    ],
)
def test_a_clouds_or_secure_yaml_another_user_could_write_is_refused(
    tmp_path: Path, name: str, mode: int, planted: bool, reason: str
) -> None:
    shared = _shared_folder(tmp_path)
    with emulator(images=2, keys=(), iam_users=(USER,)) as victims:
        env = _victim(tmp_path, victims.url)
        secure = {"auth": {"auth_url": "http://127.0.0.1:9/v3", "password": USER[2]}}
        values = {"emu": _cloud(victims.url) if name == "clouds.yaml" else secure}
        path = _write_yaml(shared / name, values, mode)
        if planted:
            give_to_another_user(path)
        result = _run_cloud(shared, env)
        requests = dict(victims.emulator.request_counts)

    assert result.returncode == 2, result.stderr[-2000:]
    assert _error(result.stderr) == refusal("OpenStack config file", path, reason)
    assert requests == {}


def test_your_own_clouds_yaml_in_the_working_folder_is_still_read(tmp_path: Path) -> None:
    folder = tmp_path / "工作"
    folder.mkdir()
    with emulator(images=2, keys=(), iam_users=(USER,)) as victims:
        env = _victim(tmp_path, "http://127.0.0.1:9")  # HOME's cloud would not answer
        _write_yaml(folder / "clouds.yaml", {"emu": _cloud(victims.url)}, 0o600)
        result = _run_cloud(folder, env)
        served = dict(victims.emulator.request_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    assert (served[SIGN_IN], served[PATCH]) == (1, 1)


def _alias_bomb(url: str) -> str:
    """Under 1 KB; nine levels of mappings of eight aliases stand for 8**9 (134 million)
    values, which openstacksdk's loader copies out one by one."""
    keys = "abcdefgh"
    lines = ["l0: &l0 {" + ", ".join(f"{k}: 哈" for k in keys) + "}"]
    for level in range(1, 10):
        refs = ", ".join(f"{k}: *l{level - 1}" for k in keys)
        lines.append(f"l{level}: &l{level} {{{refs}}}")
    cloud = yaml.safe_dump({"emu": _cloud(url, password=USER[2])}, default_flow_style=True)
    lines.append(f"clouds: {cloud.strip()[:-2]}, bomb: *l9}}}}")
    return "\n".join(lines) + "\n"


def _limited_memory() -> None:
    """The CLI's address space capped at 4 GiB: an expanding bomb fails rather than swaps."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_a_yaml_alias_bomb_in_clouds_yaml_fails_fast_with_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    clouds = folder / "clouds.yaml"
    clouds.write_text(_alias_bomb("http://127.0.0.1:9"), encoding="utf-8")
    env = _victim(tmp_path, "http://127.0.0.1:9") | {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    args = ["run", str(_manifest(folder)), "--cloud", "emu", "--log-format", "json"]

    result = cli(args, env=env, cwd=folder, preexec_fn=_limited_memory)

    assert len(clouds.read_bytes()) < 1024
    assert result.returncode == 2, result.stderr[-2000:]
    assert _error(result.stderr) == (
        f"OpenStack config file {clouds} expands to more than 100,000 values (aliases copied "
        "out): refused"
    )


# --- job files --------------------------------------------------------------------------


def _job(folder: Path, text: str, mode: int = 0o644) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _manifest(folder)
    job = folder / "夜间任务.toml"
    job.write_text(text, encoding="utf-8")
    job.chmod(mode)
    return job


def _run_job(job: Path) -> subprocess.CompletedProcess[str]:
    return cli(["run", "--job", str(job), "--log-format", "json"])


@pytest.mark.parametrize(
    ("mode", "planted", "reason"),
    [(0o644, True, "is owned by another user"), (0o666, False, "is writable by group and others")],
    ids=["another-users", "all-writable"],
)
def test_a_job_file_another_user_could_write_is_refused(
    tmp_path: Path, mode: int, planted: bool, reason: str
) -> None:
    with emulator(images=2) as running:
        text = f'manifest = "m.csv"\nendpoint = "{running.url}"\n'
        job = _job(tmp_path / "shared", text, mode)
        if planted:
            give_to_another_user(job)
        result = _run_job(job)
        requests = dict(running.emulator.request_counts)

    assert result.returncode == 2, result.stderr[-2000:]
    assert _error(result.stderr) == refusal("job file", job, reason)
    assert requests == {}


@pytest.mark.parametrize("nesting", ["[", "{a = "], ids=["arrays", "inline-tables"])
def test_a_5000_deep_toml_job_file_is_exit_2_with_one_line(tmp_path: Path, nesting: str) -> None:
    closing = "]" if nesting == "[" else "}"
    job = _job(tmp_path, "manifest = " + nesting * 5000 + "1" + closing * 5000 + "\n")

    result = _run_job(job)

    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr.splitlines()) == 1
    assert _error(result.stderr) == (
        f"job file {str(job)!r}: arrays or tables nested too deeply; a job file's values are "
        "flat (strings, numbers, booleans)"
    )
