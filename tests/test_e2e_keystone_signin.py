"""End to end, issue 25's Keystone sign-in, hardened like the image service's path: userinfo in
`auth_url` refused unseen, plain http only to loopback unless `--insecure`, no redirect
followed, the run's `--timeout` on every sign-in request, and signals honoured while a silent
Keystone holds the sign-in. The real CLI against a hostile Keystone on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, json_lines, read_report, write_csv
from tests.e2e.keystone import hostile_keystone
from tests.e2e.procs import CliProcess, wait_for

PASSWORD = "运维口令-SECRET-4be1"


def _env(tmp_path: Path, auth_url: str) -> dict[str, str]:
    """`--cloud envvars` with OS_* variables; no clouds.yaml of this machine's is read."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "HUAWEICLOUD_SDK_", "BATCH_IMS_", "XDG_"))
    }
    env |= {
        "HOME": str(tmp_path / "home"),
        "OS_AUTH_URL": auth_url,
        "OS_USERNAME": "运维",
        "OS_PASSWORD": PASSWORD,
        "OS_PROJECT_NAME": "demo",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
    }
    return env


def _args(tmp_path: Path, *extra: str) -> list[str]:
    manifest = write_csv(
        tmp_path / "m.csv", [["image_id", "name"], *([generated_image_id(i), "新"] for i in (1, 2))]
    )
    report = ["--report", str(tmp_path / "r.csv")]
    return ["run", str(manifest), "--cloud", "envvars", "--log-format", "json", *report, *extra]


def _error(result: subprocess.CompletedProcess[str]) -> str:
    errors = [e.get("error") for e in json_lines(result.stderr) if e["event"] == "run.error"]
    return str(errors[0]) if errors else ""


def _auth_failed(stderr: str) -> str:
    (line,) = [e["error"] for e in json_lines(stderr) if e["event"] == "auth.failed"]
    return str(line)


def _unreachable(stderr: str) -> list[dict[str, str]]:
    return [e for e in json_lines(stderr) if e["event"] == "run.unreachable"]


def test_userinfo_in_auth_url_is_refused_without_being_echoed(tmp_path: Path) -> None:
    with hostile_keystone("refuse") as keystone:
        url = keystone.url.replace("http://", f"http://运维:{PASSWORD}@") + "/v3"
        result = cli(_args(tmp_path), env=_env(tmp_path, url))

    assert result.returncode == 2, result.stderr[-2000:]
    assert _error(result) == (
        "cloud 'envvars': auth_url: the URL must not carry a user name or password "
        "(user:password@host); give credentials the documented way"
    )
    assert keystone.received == []
    assert PASSWORD not in result.stderr + result.stdout


def test_plain_http_to_a_non_loopback_keystone_needs_insecure(tmp_path: Path) -> None:
    url = "http://keystone.invalid:5000/v3"

    refused = cli(_args(tmp_path), env=_env(tmp_path, url))
    consented = cli(_args(tmp_path, "--insecure", "--overwrite"), env=_env(tmp_path, url))

    assert refused.returncode == 2, refused.stderr[-2000:]
    assert _error(refused) == (
        f"cloud 'envvars': auth_url {url!r} uses plain http to a non-loopback host; use https "
        "(plain http is only allowed for 127.0.0.1, ::1 or localhost); --insecure accepts it "
        "anyway"
    )
    assert consented.returncode == 4, consented.stderr[-2000:]  # tried: the host is unknown
    warnings = [e for e in json_lines(consented.stderr) if e["event"] == "auth.plain_http_sign_in"]
    assert [(e["level"], e["cloud"]) for e in warnings] == [("warning", "envvars")]
    assert [e["host"] for e in _unreachable(consented.stderr)] == ["keystone.invalid"]


def test_a_redirect_on_sign_in_is_not_followed_and_the_password_goes_nowhere_else(
    tmp_path: Path,
) -> None:
    with (
        hostile_keystone("refuse") as elsewhere,
        hostile_keystone("redirect", redirect_to=elsewhere.url) as keystone,
    ):
        result = cli(_args(tmp_path), env=_env(tmp_path, keystone.url + "/v3"))

    assert result.returncode == 3, result.stderr[-2000:]
    assert _auth_failed(result.stderr) == (
        "sign-in to Keystone for cloud 'envvars' stopped: POST "
        f"{keystone.url}/v3/auth/tokens answered HTTP 307 with a redirect, which a sign-in "
        "never follows; set auth_url to the final address"
    )
    assert keystone.received == ["GET /v3", "POST /v3/auth/tokens"]
    assert elsewhere.received == []
    assert {row["status"] for row in read_report(tmp_path / "r.csv")} == {"aborted"}


def test_a_silent_keystone_is_given_up_after_the_runs_timeout(tmp_path: Path) -> None:
    with hostile_keystone("silent") as keystone:
        result = cli(_args(tmp_path, "--timeout", "1"), env=_env(tmp_path, keystone.url + "/v3"))

    assert result.returncode == 4, result.stderr[-2000:]
    assert [e["reason"] for e in _unreachable(result.stderr)] == ["timed out"]
    assert keystone.received == ["GET /v3", "POST /v3/auth/tokens"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_run_whose_sign_in_a_silent_keystone_holds(
    tmp_path: Path, signum: signal.Signals
) -> None:
    with hostile_keystone("silent") as keystone:
        env = _env(tmp_path, keystone.url + "/v3")
        with CliProcess(_args(tmp_path, "--timeout", "600"), folder=tmp_path, env=env) as proc:
            wait_for(lambda: len(keystone.bodies) == 1, timeout=60, what="the token request")
            proc.send_signal(signum)
            exited = proc.wait(timeout=30)

    assert exited.returncode == 128 + signum, exited.stderr[-2000:]
    assert {row["status"] for row in read_report(tmp_path / "r.csv")} == {"aborted"}
