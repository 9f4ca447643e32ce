"""End to end, issue 25 item 5: terminal controls in a manifest cell or a server's answer reach
the console only as escapes (console logs, `plan --diff`, the summary); JSON logs stay JSON;
Chinese text passes as it is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import PROJECT, clean_env, cli, json_lines, write_csv
from tests.e2e.tls import serve_app

TITLE = "\x1b]0;pwned\x07"  # OSC: sets the terminal's window title
CLEAR = "\x1b[2J"  # clears the screen
WIDE = "\x9b31m\u2028\u202e"  # 8-bit CSI, line separator, right-to-left override
RAW = ("\x1b", "\x07", "\x9b", "\u2028", "\u202e")
NAME = "镜像名称"
SHOWN = ("\\x1b]0;pwned\\x07", "\\x1b[2J", "\\x9b31m\\u2028\\u202e")  # as the console shows them
GOOD, REFUSED = generated_image_id(0), generated_image_id(1)
MESSAGE = f"{TITLE}{CLEAR}{WIDE}{NAME} refused"


@contextmanager
def _hostile() -> Iterator[str]:
    """An image service whose image names and error messages carry terminal controls."""

    def refuse() -> web.Response:
        body = {"error": {"code": "IMG.0027", "message": MESSAGE}}
        return web.json_response(body, status=400)

    async def read(request: web.Request) -> web.Response:
        if request.query.get("id") != GOOD:
            return refuse()
        return web.json_response({"images": [{"id": GOOD, "name": f"{TITLE}{CLEAR}{NAME}"}]})

    async def patch(request: web.Request) -> web.Response:
        return refuse()

    app = web.Application()
    app.router.add_get("/v2/cloudimages", read)
    app.router.add_patch("/v2/cloudimages/{image_id}", patch)
    with serve_app(app) as server:
        yield server.url


def _manifest(folder: Path) -> Path:
    """Valid rows (enough text that a few controls are not taken for binary data) and one
    whose image id cell carries an OSC title sequence and a clear screen."""
    rows = [["image_id", "name"], [GOOD, f"{NAME}-新"], [REFUSED, f"{NAME}-旧"]]
    rows += [[generated_image_id(i), f"{NAME}-{i}"] for i in range(2, 12)]
    rows.append([f"{generated_image_id(99)}{TITLE}{CLEAR}", NAME])
    return write_csv(folder / "manifest.csv", rows)


def _env() -> dict[str, str]:
    return clean_env(BATCH_IMS_AUTH_TOKEN="terminal-token-00", HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)


def _assert_escaped(text: str) -> None:
    assert [raw for raw in RAW if raw in text] == []
    assert NAME in text
    assert "\\u" + format(ord(NAME[0]), "04x") not in text


def test_console_logs_and_the_summary_show_controls_escaped(tmp_path: Path) -> None:
    report = tmp_path / f"report{CLEAR}.csv"
    with _hostile() as url:
        args = ["run", str(_manifest(tmp_path)), "--endpoint", url, "--report", str(report)]
        result = cli([*args, "--log-format", "console", "--max-failure-rate", "1"], env=_env())

    assert result.returncode == 1, result.stderr[-3000:]
    _assert_escaped(result.stderr)
    assert [shown in result.stderr for shown in SHOWN] == [True, True, True]
    assert "report\\x1b[2J.csv" in result.stdout
    assert [raw for raw in RAW if raw in result.stdout] == []


def test_plan_diff_shows_a_server_name_and_error_escaped(tmp_path: Path) -> None:
    manifest = write_csv(
        tmp_path / "m.csv", [["image_id", "name"], [GOOD, f"{NAME}-新"], [REFUSED, "x"]]
    )
    with _hostile() as url:
        result = cli(["plan", str(manifest), "--diff", "--endpoint", url], env=_env())

    assert result.returncode == 1, result.stderr[-3000:]
    _assert_escaped(result.stdout)
    assert f"{GOOD} (\\x1b]0;pwned\\x07\\x1b[2J{NAME}):" in result.stdout
    assert f"{REFUSED}: could not read: IMG.0027" in result.stdout


def test_json_logs_stay_json_and_carry_the_message_unchanged(tmp_path: Path) -> None:
    with _hostile() as url:
        args = ["run", str(_manifest(tmp_path)), "--endpoint", url]
        args += ["--report", str(tmp_path / "r.jsonl"), "--log-format", "json"]
        result = cli([*args, "--max-failure-rate", "1"], env=_env())

    assert result.returncode == 1, result.stderr[-3000:]
    assert [raw for raw in RAW if raw in result.stderr] == []
    events = json_lines(result.stderr)  # every line parses
    messages = {e.get("error_message") for e in events if e["event"] == "image.finished"}
    assert MESSAGE in messages
    assert NAME in result.stderr
    bad_id = next(e for e in events if e.get("error_code") == "invalid_row")["image_id"]
    assert bad_id == f"{generated_image_id(99)}{TITLE}{CLEAR}"
    assert json.loads(json.dumps(bad_id)) == bad_id
