"""End to end, issue 25 item 2: a hostile server echoes the password or token back, changed
(escaped, JSON-encoded, white space folded, cut short, or a long token whole): no 8 characters
of the secret in a row reach stdout, stderr, the logs or the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import PROJECT, clean_env, cli, write_csv
from tests.e2e.tls import serve_app

PASSWORD = 'Über "geheim"  密码\tLEAK-pw-5e1d'  # non-ASCII, quotes, runs of white space
# a token far longer than any message limit (Keystone/IAM tokens run to several KB)
TOKEN = "MIIT" + "".join(f"{(i * 7919) % 104729:06x}Zq" for i in range(170))
assert len(TOKEN) > 1300


PART = 8


def _forms(secret: str) -> set[str]:
    escaped = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    escaped.add(json.dumps(json.dumps(secret))[1:-1])
    return escaped | {" ".join(form.split()) for form in escaped}


def _leaks(secret: str, texts: dict[str, str], *, anywhere: bool) -> list[tuple[str, str]]:
    """(output, run of the secret) for the first PART characters of any form found in an
    output, and with `anywhere` any PART characters of it in a row."""
    found = []
    for form in _forms(secret):
        for start in range(len(form) - PART + 1 if anywhere else 1):
            part = form[start : start + PART]
            found += [(name, part) for name, text in texts.items() if part in text]
    return found


def _outputs(result_stdout: str, result_stderr: str, folder: Path) -> dict[str, str]:
    texts = {"stdout": result_stdout, "stderr": result_stderr}
    for path in folder.iterdir():
        if path.is_file() and path.name != "manifest.csv":
            texts[path.name] = path.read_text(encoding="utf-8-sig", errors="replace")
    return texts


ECHOES: dict[str, Callable[[str], tuple[str, str]]] = {
    # (content type, body) a server answers with, built from the secret it was sent
    "raw in JSON": lambda s: ("application/json", json.dumps({"error_msg": f"bad {s}"})),
    "JSON-escaped in plain text": lambda s: ("text/plain", f"refused: {json.dumps(s)} x"),
    "escaped twice": lambda s: ("text/plain", json.dumps(json.dumps(s))),
    "folded white space": lambda s: ("text/html", f"<title>no {' '.join(s.split())}</title>"),
    "first 9 characters": lambda s: ("application/json", json.dumps({"error_msg": s[:9] + "…"})),
    "a nested document": lambda s: (
        "application/json",
        json.dumps({"error_code": "APIG.0301", "error_msg": {"you sent": [s]}}),
    ),
    "cut by the server at 995": lambda s: ("text/plain", "token " + s[:995]),
}
TOKEN_ECHOES = {
    **ECHOES,
    "its middle": lambda s: ("text/plain", f"x{s[len(s) // 2 : len(s) // 2 + 12]}x"),
}


def _manifest(folder: Path) -> Path:
    rows = [["image_id", "name"], *([generated_image_id(i), f"镜像名称-{i}"] for i in range(3))]
    return write_csv(folder / "manifest.csv", rows)


def _run(folder: Path, endpoint: str, env: dict[str, str]) -> dict[str, str]:
    report = folder / "report.csv"
    args = ["run", str(_manifest(folder)), "--endpoint", endpoint, "--report", str(report)]
    args += ["--summary-json", str(folder / "summary.json"), "--log-format", "json"]
    result = cli([*args, "--auth-failure-limit", "1"], env=env)
    assert result.returncode == 3, result.stderr[-2000:]
    return _outputs(result.stdout, result.stderr, folder)


@pytest.mark.parametrize("echo", list(TOKEN_ECHOES))
def test_a_token_echoed_by_the_image_service_leaks_in_no_form(tmp_path: Path, echo: str) -> None:
    async def refuse(request: web.Request) -> web.Response:
        content_type, body = TOKEN_ECHOES[echo](request.headers["X-Auth-Token"])
        return web.Response(status=401, text=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    env = clean_env(BATCH_IMS_AUTH_TOKEN=TOKEN, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
    with serve_app(app) as server:
        texts = _run(tmp_path, server.url, env)

    assert "report.csv" in texts
    assert _leaks(TOKEN, texts, anywhere=True) == []


@pytest.mark.parametrize("echo", list(ECHOES))
def test_a_password_echoed_by_the_sign_in_leaks_in_no_form(tmp_path: Path, echo: str) -> None:
    async def sign_in(request: web.Request) -> web.Response:
        sent = (await request.json())["auth"]["identity"]["password"]["user"]["password"]
        content_type, body = ECHOES[echo](sent)
        return web.Response(status=401, text=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/v3/auth/tokens", sign_in)
    with serve_app(app) as server:
        env = clean_env(
            BATCH_IMS_IAM_DOMAIN="acme",
            BATCH_IMS_IAM_USER="ops",
            BATCH_IMS_IAM_PASSWORD=PASSWORD,
            HUAWEICLOUD_SDK_IAM_ENDPOINT=server.url,
            HUAWEICLOUD_SDK_PROJECT_ID=PROJECT,
        )
        texts = _run(tmp_path, server.url, env)

    assert _leaks(PASSWORD, texts, anywhere=False) == []
