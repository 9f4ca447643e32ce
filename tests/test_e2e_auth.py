"""End to end, issue 3: every authentication mode through the real CLI against the emulator,
the credentials file, project-id lookup, fail-fast on wrong keys with its hint, and no leaks."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import (
    AK,
    PROJECT,
    SK,
    aksk_env,
    clean_env,
    cli,
    emulator,
    json_lines,
    read_report,
    write_csv,
)

FAST = ["--rate", "100000", "--concurrency", "16"]
ABORT_SOON = ["--auth-failure-limit", "2"]  # small runs still reach the abort
REGION = "cn-north-4"
TEMP_AK = "E2ETEMPKEY000001"
TEMP_SK = "e2e-temp-sk-LEAKCHECK-31a7f0"
STS = "e2e-sts-LEAKCHECK-9b2d44e1"
TOKEN = "e2e-token-LEAKCHECK-44c1aa70"
PASSWORD = "e2e-password-LEAKCHECK-d8e0b3"
WRONG_SK = "e2e-wrong-sk-LEAKCHECK-0c6e"
IAM_USER = ("acme", "ops", PASSWORD)  # (account, user, password)


def _manifest(folder: Path, count: int) -> tuple[Path, list[str]]:
    ids = [generated_image_id(i) for i in range(count)]
    rows = [["image_id", "name"], *([image_id, f"auth-{i}"] for i, image_id in enumerate(ids))]
    return write_csv(folder / "manifest.csv", rows), ids


def _args(manifest: Path, url: str, report: Path, *extra: str) -> list[str]:
    return ["run", str(manifest), "--endpoint", url, "--report", str(report), *FAST, *extra]


def _events(stderr: str, name: str) -> list[dict[str, Any]]:
    return [event for event in json_lines(stderr) if event["event"] == name]


def _iam_env(url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        BATCH_IMS_IAM_DOMAIN=IAM_USER[0],
        BATCH_IMS_IAM_USER=IAM_USER[1],
        BATCH_IMS_IAM_PASSWORD=IAM_USER[2],
        HUAWEICLOUD_SDK_IAM_ENDPOINT=url,
        **extra,
    )


def _temp_env(**extra: str) -> dict[str, str]:
    return clean_env(HUAWEICLOUD_SDK_AK=TEMP_AK, HUAWEICLOUD_SDK_SK=TEMP_SK, **extra)


EMULATOR_AUTH: dict[str, Any] = {
    "keys": ((AK, SK), (TEMP_AK, TEMP_SK)),
    "security_tokens": ((TEMP_AK, STS),),
    "tokens": (TOKEN,),
    "iam_users": (IAM_USER,),
    "project_id": PROJECT,
    "project_name": REGION,
}


def _mode_env(mode: str, url: str) -> dict[str, str]:
    if mode == "aksk":
        return aksk_env()
    if mode == "temporary-aksk":
        return _temp_env(HUAWEICLOUD_SDK_SECURITY_TOKEN=STS, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
    if mode == "token":
        return clean_env(BATCH_IMS_AUTH_TOKEN=TOKEN)
    return _iam_env(url, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)


@pytest.mark.parametrize("mode", ["aksk", "temporary-aksk", "token", "iam-password"])
def test_each_auth_mode_applies_all_fifty_images(tmp_path: Path, mode: str) -> None:
    manifest, ids = _manifest(tmp_path, 50)
    with emulator(images=50, **EMULATOR_AUTH) as running:
        args = _args(manifest, running.url, tmp_path / "r.csv")
        result = cli(args, env=_mode_env(mode, running.url))
        applied = dict(running.emulator.apply_counts)
        statuses = dict(running.emulator.status_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    assert [e["mode"] for e in _events(result.stderr, "auth.mode_selected")] == [mode]
    assert applied == dict.fromkeys(ids, 1)
    assert {row["status"] for row in read_report(tmp_path / "r.csv")} == {"succeeded"}
    assert 401 not in statuses


@pytest.mark.parametrize(
    ("scope", "extra_args"),
    [({"HUAWEICLOUD_SDK_PROJECT_ID": PROJECT}, []), ({}, ["--region", REGION])],
    ids=["project-id", "region-name"],
)
def test_iam_sign_in_requests_one_token_for_the_whole_run(
    tmp_path: Path, scope: dict[str, str], extra_args: list[str]
) -> None:
    manifest, ids = _manifest(tmp_path, 50)
    with emulator(images=50, **EMULATOR_AUTH) as running:
        args = _args(manifest, running.url, tmp_path / "r.csv", *extra_args)
        result = cli(args, env=_iam_env(running.url, **scope))
        issued = running.emulator.token_issued
        requests = dict(running.emulator.request_counts)
        applied = dict(running.emulator.apply_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    assert issued == 1
    assert requests == {"POST /v3/auth/tokens": 1, "PATCH /v2/cloudimages/{image_id}": 50}
    assert applied == dict.fromkeys(ids, 1)


def test_temporary_keys_without_their_security_token_are_refused(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path, 3)
    with emulator(images=3, **EMULATOR_AUTH) as running:
        args = _args(manifest, running.url, tmp_path / "r.csv")
        result = cli(args, env=_temp_env(HUAWEICLOUD_SDK_PROJECT_ID=PROJECT))
        applied = dict(running.emulator.apply_counts)

    assert result.returncode == 1, result.stderr[-2000:]  # 3 failures: under the abort limit
    rows = read_report(tmp_path / "r.csv")
    assert {(row["status"], row["http_status"]) for row in rows} == {("failed", "401")}
    assert all("security token required" in row["error_message"] for row in rows)
    assert applied == {}


def test_project_id_is_looked_up_by_region_name_and_logged(tmp_path: Path) -> None:
    manifest, ids = _manifest(tmp_path, 5)
    with emulator(images=5, **EMULATOR_AUTH) as running:
        env = clean_env(
            HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK, HUAWEICLOUD_SDK_IAM_ENDPOINT=running.url
        )
        result = cli(_args(manifest, running.url, tmp_path / "r.csv", "--region", REGION), env=env)
        requests = dict(running.emulator.request_counts)
        applied = dict(running.emulator.apply_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    resolved = _events(result.stderr, "auth.project_resolved")
    assert [(e["project_id"], e["region"]) for e in resolved] == [(PROJECT, REGION)]
    assert requests == {"GET /v3/projects": 1, "PATCH /v2/cloudimages/{image_id}": 5}
    assert applied == dict.fromkeys(ids, 1)


def test_project_lookup_for_an_unknown_region_exits_3_and_patches_nothing(
    tmp_path: Path,
) -> None:
    manifest, ids = _manifest(tmp_path, 5)
    with emulator(images=5, **EMULATOR_AUTH) as running:
        env = clean_env(
            HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK, HUAWEICLOUD_SDK_IAM_ENDPOINT=running.url
        )
        args = _args(manifest, running.url, tmp_path / "r.csv", "--region", "ap-southeast-1")
        result = cli(args, env=env)
        requests = dict(running.emulator.request_counts)

    assert result.returncode == 3, result.stderr[-2000:]
    assert requests == {"GET /v3/projects": 1}
    rows = read_report(tmp_path / "r.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    assert {row["status"] for row in rows} == {"aborted"}


def _credentials(folder: Path, mode: int, **values: str) -> Path:
    path = folder / "credentials"
    lines = ["[ops]", *(f"{key} = {value}" for key, value in values.items()), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("file_values", "env_values", "expected_code", "expected_source"),
    [
        ({"ak": AK, "sk": SK, "project_id": PROJECT}, {}, 0, "profile 'ops'"),
        ({"ak": AK, "sk": WRONG_SK, "project_id": PROJECT}, {}, 3, "profile 'ops'"),
        (
            {"ak": AK, "sk": WRONG_SK, "project_id": PROJECT},
            {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK},
            0,
            "environment",
        ),
        ({"ak": AK, "sk": SK, "project_id": "f" * 32}, {}, 3, "profile 'ops'"),
        (
            {"ak": AK, "sk": SK, "project_id": "f" * 32},
            {"HUAWEICLOUD_SDK_PROJECT_ID": PROJECT},
            0,
            "profile 'ops'",
        ),
    ],
    ids=["file", "file-wrong-sk", "env-keys-win", "file-wrong-project", "env-project-wins"],
)
def test_profile_reads_the_credentials_file_and_environment_wins(
    tmp_path: Path,
    file_values: dict[str, str],
    env_values: dict[str, str],
    expected_code: int,
    expected_source: str,
) -> None:
    manifest, _ = _manifest(tmp_path, 3)
    path = _credentials(tmp_path, 0o600, **file_values, region=REGION)
    env = clean_env(HUAWEICLOUD_SDK_CREDENTIALS_FILE=str(path), **env_values)
    with emulator(images=3, **EMULATOR_AUTH) as running:
        profile = ["--profile", "ops", *ABORT_SOON]
        result = cli(_args(manifest, running.url, tmp_path / "r.csv", *profile), env=env)
        applied = sum(running.emulator.apply_counts.values())

    assert result.returncode == expected_code, result.stderr[-2000:]
    assert [e["source"] for e in _events(result.stderr, "auth.mode_selected")] == [expected_source]
    assert applied == (3 if expected_code == 0 else 0)
    assert _events(result.stderr, "auth.credentials_file_permissive") == []


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_credentials_file_readable_by_group_or_others_warns(tmp_path: Path, mode: int) -> None:
    manifest, _ = _manifest(tmp_path, 1)
    path = _credentials(tmp_path, mode, ak=AK, sk=SK, project_id=PROJECT)
    env = clean_env(HUAWEICLOUD_SDK_CREDENTIALS_FILE=str(path))
    with emulator(images=1, **EMULATOR_AUTH) as running:
        result = cli(_args(manifest, running.url, tmp_path / "r.csv", "--profile", "ops"), env=env)

    assert result.returncode == 0, result.stderr[-2000:]
    warnings = _events(result.stderr, "auth.credentials_file_permissive")
    expected = [("warning", str(path), f"{mode:04o}")]
    assert [(e["level"], e["path"], e["mode"]) for e in warnings] == expected


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_credentials_file_writable_by_others_is_refused_before_anything_is_sent(
    tmp_path: Path, mode: int
) -> None:
    manifest, _ = _manifest(tmp_path, 1)
    path = _credentials(tmp_path, mode, ak=AK, sk=SK, project_id=PROJECT)
    env = clean_env(HUAWEICLOUD_SDK_CREDENTIALS_FILE=str(path))
    with emulator(images=1, **EMULATOR_AUTH) as running:
        args = _args(manifest, running.url, tmp_path / "r.csv", "--profile", "ops")
        result = cli([*args, "--log-format", "json"], env=env)
        requests = sum(running.emulator.request_counts.values())

    assert result.returncode == 2, result.stderr[-2000:]
    (error,) = [e["error"] for e in json_lines(result.stderr) if e["event"] == "run.error"]
    assert error == (
        f"credentials file {path} is writable by other users (mode {mode:04o}); "
        f"refusing it: run `chmod 600 {path}`"
    )
    assert requests == 0


def _fail_fast_run(
    tmp_path: Path, sk: str, **config: Any
) -> tuple[subprocess.CompletedProcess[str], int, list[str]]:
    manifest, ids = _manifest(tmp_path, 300)
    env = clean_env(
        HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=sk, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT
    )
    with emulator(images=300, **EMULATOR_AUTH, **config) as running:
        args = ["run", str(manifest), "--endpoint", running.url, "--report"]
        # the default rate and concurrency: requests 0.1 s apart, so the fifth failure in a
        # row stops the run before more than a few others went out
        result = cli([*args, str(tmp_path / "r.csv")], env=env)
        requests = sum(running.emulator.request_counts.values())
        applied = sum(running.emulator.apply_counts.values())
    assert applied == 0
    return result, requests, ids


def _assert_stopped_early(
    tmp_path: Path, result: subprocess.CompletedProcess[str], requests: int, ids: list[str]
) -> str:
    assert result.returncode == 3, result.stderr[-2000:]
    assert 5 <= requests <= 12  # 5 consecutive failures stop it; a few more were in flight
    rows = read_report(tmp_path / "r.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    statuses = [row["status"] for row in rows]
    assert set(statuses) == {"failed", "aborted"}
    assert statuses.count("failed") == requests
    hints = [e["hint"] for e in _events(result.stderr, "run.auth_failed")]
    assert len(hints) == 1
    hint: str = hints[0]
    return hint


def test_wrong_sk_on_300_images_stops_after_a_dozen_requests_and_names_the_cause(
    tmp_path: Path,
) -> None:
    result, requests, ids = _fail_fast_run(tmp_path, WRONG_SK)
    hint = _assert_stopped_early(tmp_path, result, requests, ids)
    assert "likely cause: the secret key does not match the access key" in hint
    assert "HUAWEICLOUD_SDK_SK" in hint
    assert f"project id {PROJECT}" in hint
    assert WRONG_SK not in hint


def test_skewed_server_clock_fails_fast_and_the_hint_reports_the_skew(tmp_path: Path) -> None:
    result, requests, ids = _fail_fast_run(tmp_path, SK, clock_offset_s=1200)
    hint = _assert_stopped_early(tmp_path, result, requests, ids)
    assert re.search(
        r"likely cause: the local clock is (19|20) min \d+ s behind the server's", hint
    )
    assert "fix the clock" in hint


# --- no leaks --------------------------------------------------------------------------------

_ISSUED_TOKEN = re.compile(r"MII[A-Za-z0-9_-]{40,}")  # the emulator's IAM tokens look like this

_LEAK_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    # mode -> (the variable replaced by a wrong value for the failing run, secrets to look for)
    "aksk": ("HUAWEICLOUD_SDK_SK", (SK,)),
    "temporary-aksk": ("HUAWEICLOUD_SDK_SECURITY_TOKEN", (TEMP_SK, STS)),
    "token": ("BATCH_IMS_AUTH_TOKEN", (TOKEN,)),
    "iam-password": ("BATCH_IMS_IAM_PASSWORD", (PASSWORD,)),
}


_EXPECTED_FILES = {
    "out-ok/r.csv",
    "out-ok/r.csv.journal.jsonl",
    "out-ok/summary.json",
    "out-ok/undo.csv",
    "out-bad/r.jsonl",
    "out-bad/r.jsonl.journal.jsonl",
    "out-bad/summary.json",
}


def _outputs(folder: Path) -> dict[str, str]:
    return {
        str(path): path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _leak_runs(tmp_path: Path, mode: str, wrong: str) -> dict[str, str]:
    manifest, _ = _manifest(tmp_path, 4)
    ok, bad = tmp_path / "out-ok", tmp_path / "out-bad"
    texts: dict[str, str] = {}
    with emulator(images=4, **EMULATOR_AUTH) as running:
        env = _mode_env(mode, running.url)
        variable = _LEAK_CASES[mode][0]
        runs = [
            (ok, "r.csv", env, ["--log-format", "json"]),
            (bad, "r.jsonl", {**env, variable: wrong}, ["--log-format", "console", *ABORT_SOON]),
        ]
        for folder, report, run_env, extra in runs:
            outputs = [
                *("--summary-json", str(folder / "summary.json")),
                *("--undo-manifest", str(folder / "undo.csv")),
            ]
            args = _args(manifest, running.url, folder / report, *outputs, *extra)
            result = cli(args, env=run_env)
            texts[f"{folder.name} stdout"] = result.stdout
            texts[f"{folder.name} stderr"] = result.stderr
            texts[f"{folder.name} exit"] = str(result.returncode)
    return texts | _outputs(ok) | _outputs(bad)


@pytest.mark.parametrize("mode", list(_LEAK_CASES))
def test_no_secret_appears_in_any_output_of_any_auth_mode(tmp_path: Path, mode: str) -> None:
    wrong = f"e2e-wrong-{mode}-LEAKCHECK-5f1e"
    texts = _leak_runs(tmp_path, mode, wrong)

    assert (texts["out-ok exit"], texts["out-bad exit"]) == ("0", "3")
    written = {str(Path(key).relative_to(tmp_path)) for key in texts if key.startswith("/")}
    assert written >= _EXPECTED_FILES
    secrets = (*_LEAK_CASES[mode][1], wrong)
    leaks = [
        (where, secret) for where, text in texts.items() for secret in secrets if secret in text
    ]
    leaks += [
        (where, "issued IAM token") for where, text in texts.items() if _ISSUED_TOKEN.search(text)
    ]
    assert leaks == []


def test_help_of_run_and_plan_shows_no_secret_from_the_environment() -> None:
    env = clean_env(
        HUAWEICLOUD_SDK_AK=TEMP_AK,
        HUAWEICLOUD_SDK_SK=TEMP_SK,
        HUAWEICLOUD_SDK_SECURITY_TOKEN=STS,
        BATCH_IMS_AUTH_TOKEN=TOKEN,
        BATCH_IMS_IAM_USER=IAM_USER[1],
        BATCH_IMS_IAM_PASSWORD=PASSWORD,
        BATCH_IMS_IAM_DOMAIN=IAM_USER[0],
    )
    shown = {command: cli([command, "--help"], env=env) for command in ("run", "plan")}

    assert {command: result.returncode for command, result in shown.items()} == {
        "run": 0,
        "plan": 0,
    }
    assert all("--endpoint" in result.stdout for result in shown.values())
    leaks = [
        (command, secret)
        for command, result in shown.items()
        for secret in (TEMP_SK, STS, TOKEN, PASSWORD)
        if secret in result.stdout + result.stderr
    ]
    assert leaks == []


def _closed_port_url() -> str:
    """A loopback URL nobody listens on (the port bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _assert_sign_in_unreachable(
    result: subprocess.CompletedProcess[str], report: Path, ids: list[str], host: str, reason: str
) -> None:
    assert result.returncode == 4, result.stderr[-2000:]
    events = _events(result.stderr, "run.unreachable")
    assert [(e["stage"], e["host"], e["reason"]) for e in events] == [("sign_in", host, reason)]
    assert _events(result.stderr, "run.auth_failed") == []
    assert "credentials" not in result.stderr + result.stdout
    rows = read_report(report)
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    assert {(row["status"], row["error_code"]) for row in rows} == {
        ("aborted", "sign_in_unreachable")
    }
    assert all(reason in row["error_message"] for row in rows)


@pytest.mark.parametrize(
    ("iam", "host", "reason"),
    [
        ("closed", "127.0.0.1", "connection refused"),
        ("https://nonexistent.invalid", "nonexistent.invalid", "DNS lookup failed"),
    ],
)
def test_an_unreachable_iam_sign_in_exits_4_naming_host_and_reason_not_the_credentials(
    tmp_path: Path, iam: str, host: str, reason: str
) -> None:
    manifest, ids = _manifest(tmp_path, 5)
    iam_url = _closed_port_url() if iam == "closed" else iam
    with emulator(images=5, **EMULATOR_AUTH) as running:
        env = _iam_env(iam_url, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
        result = cli(_args(manifest, running.url, tmp_path / "r.csv"), env=env)
        requests = sum(running.emulator.request_counts.values())

    assert requests == 0
    events = _events(result.stderr, "run.unreachable")
    assert len(events) == 1, result.stderr[-2000:]
    assert events[0]["reason"].startswith(reason)
    _assert_sign_in_unreachable(result, tmp_path / "r.csv", ids, host, events[0]["reason"])


def test_an_unreachable_project_lookup_exits_4_and_a_resumed_run_then_sends_every_image(
    tmp_path: Path,
) -> None:
    manifest, ids = _manifest(tmp_path, 5)
    journal = str(tmp_path / "j.jsonl")
    with emulator(images=5, **EMULATOR_AUTH) as running:
        keys = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
        args = _args(manifest, running.url, tmp_path / "r.csv", "--region", REGION)
        args += ["--journal", journal]
        down = cli(args, env=clean_env(HUAWEICLOUD_SDK_IAM_ENDPOINT=_closed_port_url(), **keys))
        served_while_down = sum(running.emulator.request_counts.values())
        _assert_sign_in_unreachable(
            down, tmp_path / "r.csv", ids, "127.0.0.1", "connection refused"
        )
        up = cli(
            [*args, "--resume"], env=clean_env(HUAWEICLOUD_SDK_IAM_ENDPOINT=running.url, **keys)
        )
        applied = dict(running.emulator.apply_counts)

    assert served_while_down == 0
    assert up.returncode == 0, up.stderr[-2000:]
    assert applied == dict.fromkeys(ids, 1)


def test_plan_diff_with_an_unreachable_iam_exits_4_with_one_line(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path, 2)
    iam_url = _closed_port_url()
    with emulator(images=2, **EMULATOR_AUTH) as running:
        env = _iam_env(iam_url, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
        result = cli(["plan", str(manifest), "--diff", "--endpoint", running.url], env=env)

    assert result.returncode == 4, result.stderr[-2000:]
    errors = [e["error"] for e in _events(result.stderr, "run.error")]
    assert errors == [
        f"could not reach IAM at {iam_url} (connection refused); "
        "check HUAWEICLOUD_SDK_IAM_ENDPOINT and the network"
    ]
