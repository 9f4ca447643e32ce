"""`batch-ims emulator` as a real subprocess, and its option checks."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from batch_ims.emulator import emulator_command, generated_image_id

_LAUNCH = "from batch_ims.emulator import emulator_command; emulator_command()()"


async def _start(
    *args: str, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LAUNCH,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), timeout=15)).decode()
    return process, line


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), timeout=10)


async def test_subprocess_prints_its_listening_line_serves_and_exits_0_on_sigterm() -> None:
    process, line = await _start("--port", "0", "--images", "3")
    try:
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match is not None, line
        url = f"{match[1]}/v2/cloudimages/{generated_image_id(2)}"
        ops = [{"op": "replace", "path": "/name", "value": "from-subprocess"}]
        async with aiohttp.ClientSession() as session:
            async with session.patch(url, json=ops) as resp:
                assert (resp.status, (await resp.json())["name"]) == (200, "from-subprocess")
            async with session.get(f"{match[1]}/_emulator/stats") as resp:
                stats = await resp.json()
        assert stats["apply_counts"] == {generated_image_id(2): 1}
    finally:
        returncode = await _stop(process)
    assert returncode == 0


async def test_subprocess_reads_keys_from_the_environment_and_refuses_unsigned_requests() -> None:
    env = {"BATCH_IMS_EMULATOR_AK": "AKENV", "BATCH_IMS_EMULATOR_SK": "sk-from-env"}
    process, line = await _start("--images", "1", env=env)
    try:
        url = line.removeprefix("listening on ").strip()
        ops = [{"op": "replace", "path": "/name", "value": "x"}]
        async with aiohttp.ClientSession() as session:
            image_url = f"{url}/v2/cloudimages/{generated_image_id(0)}"
            async with session.patch(image_url, json=ops) as resp:
                assert (resp.status, (await resp.json())["error_code"]) == (401, "APIG.0301")
    finally:
        assert await _stop(process) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ak", "A1", "--ak", "A2", "--sk", "S1"], "one --sk"),
        (["--iam-user", "acme/alice"], "--iam-password"),
        (["--iam-user", "alice", "--iam-password", "pw"], "DOMAIN/USER"),
        (["--fail-rate", "0.7", "--reset-rate", "0.7"], "must not exceed 1"),
        (["--ak", "A", "--sk", "S", "--security-token", "T1", "--security-token", "T2"], "more"),
        (["--fail-rate", "2"], "0<=x<=1"),
    ],
)
def test_bad_options_are_usage_errors_without_echoing_secrets(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(emulator_command(), args, env={"BATCH_IMS_EMULATOR_SK": ""})
    assert result.exit_code == 2
    assert message in result.output
    assert "S1" not in result.output.replace("--sk", "")


def test_seed_file_that_is_not_a_list_is_reported_without_a_traceback(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"not": "images"}), encoding="utf-8")
    result = CliRunner().invoke(emulator_command(), ["--seed", str(seed)])
    assert result.exit_code == 1
    assert "cannot start the emulator" in result.output
    assert "expected a JSON list of images" in result.output


async def test_seed_demo_serves_the_images_shipped_with_the_package() -> None:
    process, line = await _start("--seed", "demo")
    try:
        url = line.removeprefix("listening on ").strip()
        query = f"{url}/v2/cloudimages?id=cc67105f-acf9-542a-8592-7e6f5a5f22ec"
        async with aiohttp.ClientSession() as session, session.get(query) as resp:
            images = (await resp.json())["images"]
    finally:
        assert await _stop(process) == 0
    assert [(i["name"], i["status"]) for i in images] == [("web-centos7", "active")]


def test_seed_dot_slash_demo_is_a_file_named_demo_not_the_shipped_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "demo").write_text(json.dumps({"not": "images"}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(emulator_command(), ["--seed", "./demo"])
    assert (result.exit_code, "expected a JSON list of images" in result.output) == (1, True)


def test_a_non_loopback_host_is_refused_without_i_know() -> None:
    result = CliRunner().invoke(emulator_command(), ["--host", "0.0.0.0"])

    assert result.exit_code == 2
    assert "not a loopback address" in result.output
    assert "--i-know" in result.output


async def test_a_non_loopback_host_with_i_know_serves_with_a_loud_warning() -> None:
    process, line = await _start("--host", "0.0.0.0", "--i-know", "--port", "0")
    try:
        assert line.startswith("listening on http://0.0.0.0:")
    finally:
        assert await _stop(process) == 0
    assert process.stderr is not None
    warning = (await process.stderr.read()).decode()
    assert "WARNING: serving the emulator on 0.0.0.0" in warning
    assert "no authentication" in warning


async def test_the_state_endpoint_needs_credentials_when_keys_are_set() -> None:
    env = {"BATCH_IMS_EMULATOR_AK": "AKENV", "BATCH_IMS_EMULATOR_SK": "sk-from-env"}
    process, line = await _start("--images", "1", "--token", "tok-state-1234", env=env)
    try:
        url = line.removeprefix("listening on ").strip()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/_emulator/state") as resp:
                anonymous = resp.status
            headers = {"X-Auth-Token": "tok-state-1234"}
            async with session.get(f"{url}/_emulator/state", headers=headers) as resp:
                with_token = resp.status, len((await resp.json())["images"])
    finally:
        assert await _stop(process) == 0
    assert anonymous == 401
    assert with_token == (200, 1)


async def test_deeply_nested_json_is_a_400_not_a_500() -> None:
    process, line = await _start("--images", "1")
    try:
        url = line.removeprefix("listening on ").strip()
        nested = b"[" * 100_000 + b"]" * 100_000
        headers = {"Content-Type": "application/json"}
        async with aiohttp.ClientSession() as session:
            image_url = f"{url}/v2/cloudimages/{generated_image_id(0)}"
            async with session.patch(image_url, data=nested, headers=headers) as resp:
                patch_status = resp.status
            async with session.post(f"{url}/v3/auth/tokens", data=nested, headers=headers) as r:
                iam_status = r.status
    finally:
        assert await _stop(process) == 0
    assert (patch_status, iam_status) == (400, 400)
    assert process.stderr is not None
    assert "Traceback" not in (await process.stderr.read()).decode()
