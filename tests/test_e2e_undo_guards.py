"""End to end, issue 25 item 8: the undo manifest makes a server's formula-like old values
text for spreadsheets and still restores them exactly; and no image is changed whose old
values the undo manifest could not hold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from aiohttp import web

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import PROJECT, clean_env, cli, emulator, read_report, write_csv
from tests.e2e.tls import serve_app

IDS = [generated_image_id(i) for i in range(3)]
OLD = {  # what a server (anybody) put there: formulas to a spreadsheet
    IDS[0]: {"name": '=HYPERLINK("http://evil.example/","点我")', "__description": "@SUM(A1)"},
    IDS[1]: {"name": "+cmd|' /C calc'!A0", "__description": "'=already marked"},
    IDS[2]: {"name": "-1", "__description": "镜像名称"},
}


def _seed(folder: Path) -> Path:
    images = [{"id": i, "status": "active", **values} for i, values in OLD.items()]
    path = folder / "seed.json"
    path.write_text(json.dumps(images, ensure_ascii=False), encoding="utf-8")
    return path


def _run(manifest: Path, url: str, report: Path, *extra: str) -> int:
    args = ["run", str(manifest), "--endpoint", url, "--report", str(report), *extra]
    result = cli([*args, "--log-format", "json"])
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return result.returncode


def test_formula_like_old_values_are_text_in_the_undo_manifest_and_restored_exactly(
    tmp_path: Path,
) -> None:
    rows = [["image_id", "name", "__description"]]
    rows += [[image_id, f"新名称-{n}", "new"] for n, image_id in enumerate(IDS)]
    manifest = write_csv(tmp_path / "m.csv", rows)
    undo = tmp_path / "undo.csv"
    with emulator(seed=_seed(tmp_path)) as running:
        forward = _run(manifest, running.url, tmp_path / "f.csv", "--undo-manifest", str(undo))
        back = _run(undo, running.url, tmp_path / "back.csv")
        restored = {i: running.emulator.images[i] for i in IDS}

    assert (forward, back) == (0, 0)
    with undo.open(encoding="utf-8", newline="") as handle:
        cells = {(r["image_id"], r["path"]): r["value"] for r in csv.DictReader(handle)}
    assert cells[(IDS[0], "name")] == "'" + OLD[IDS[0]]["name"]
    assert cells[(IDS[0], "__description")] == "'@SUM(A1)"
    assert cells[(IDS[1], "name")] == "'" + OLD[IDS[1]]["name"]
    assert cells[(IDS[1], "__description")] == "''=already marked"
    assert cells[(IDS[2], "name")] == "'-1"
    assert cells[(IDS[2], "__description")] == "镜像名称"
    starts = [value[:1] for value in cells.values()]
    assert [s for s in starts if s in ("=", "+", "-", "@")] == []
    for image_id, values in OLD.items():
        assert {k: restored[image_id][k] for k in values} == values


def test_an_image_whose_read_gives_nothing_usable_is_not_changed_without_undo_rows(
    tmp_path: Path,
) -> None:
    patched: list[str] = []

    async def read(request: web.Request) -> web.Response:
        return web.json_response({"images": "not a list"})  # 200, but no image in it

    async def patch(request: web.Request) -> web.Response:
        patched.append(request.match_info["image_id"])
        return web.json_response({"id": request.match_info["image_id"], "name": "x"})

    app = web.Application()
    app.router.add_get("/v2/cloudimages", read)
    app.router.add_patch("/v2/cloudimages/{image_id}", patch)
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], [IDS[0], "新名称"]])
    undo, report = tmp_path / "undo.csv", tmp_path / "r.csv"
    env = clean_env(BATCH_IMS_AUTH_TOKEN="undo-token-0000", HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
    with serve_app(app) as server:
        args = ["run", str(manifest), "--endpoint", server.url, "--report", str(report)]
        result = cli([*args, "--undo-manifest", str(undo)], env=env)

    assert result.returncode == 1, result.stderr[-2000:]
    assert patched == []
    [row] = read_report(report)
    assert (row["status"], row["error_code"]) == ("failed", "state_unread")
    assert undo.read_text(encoding="utf-8").splitlines() == ["image_id,op,path,value"]
