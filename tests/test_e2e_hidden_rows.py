"""End to end: rows hidden in a workbook (an Excel filter) and formulas never calculated.

A user filters a sheet down to the rows they want and saves it: the hidden rows are still
in the file. `plan` names them; a run refuses the file until told (`--hidden-rows`), and
with `skip` reports each hidden row once, never sent, and counts them in the summary.
"""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import Workbook

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, json_lines, read_report

IDS = [generated_image_id(i) for i in range(5)]
NOTE = "hidden in the workbook (an Excel filter, or hidden by hand): not sent (--hidden-rows skip)"


def _filtered_sheet(path: Path) -> Path:
    """Rows 3 and 5 hidden by a filter; row 5 also touches the image of visible row 2."""
    book = Workbook()
    sheet = book.active
    sheet.append(["image_id", "op", "path", "value"])
    sheet.append([IDS[0], "replace", "name", "生产环境 Web 镜像"])  # row 2
    sheet.append([IDS[1], "replace", "name", "测试环境 旧镜像"])  # row 3, hidden
    sheet.append([IDS[2], "add", "__description", "镜像测试-3"])  # row 4
    sheet.append([IDS[0], "replace", "name", "不要发送"])  # row 5, hidden: would conflict
    sheet.append([IDS[3], "replace", "min_ram", "4096"])  # row 6
    sheet.auto_filter.ref = "A1:D6"
    for row in (3, 5):
        sheet.row_dimensions[row].hidden = True
    book.save(path)
    return path


def _run(manifest: Path, url: str, *extra: str) -> list[str]:
    return ["run", str(manifest), "--endpoint", url, "--rate", "1000", *extra]


def test_run_refuses_hidden_rows_until_told_sending_and_writing_nothing(tmp_path: Path) -> None:
    manifest = _filtered_sheet(tmp_path / "筛选.xlsx")
    report = tmp_path / "out" / "report.csv"
    with emulator(images=5) as running:
        result = cli(_run(manifest, running.url, "--report", str(report)))
        requests = sum(running.emulator.request_counts.values())
    assert result.returncode == 2
    (line,) = [json.loads(x)["error"] for x in result.stderr.splitlines() if "run.error" in x]
    assert line == (
        f"{manifest}: rows 3, 5: hidden in the workbook (an Excel filter, or hidden by hand); "
        "nothing sent: choose --hidden-rows skip|include (job files: hidden-rows)"
    )
    assert requests == 0
    assert not report.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_run_skipping_hidden_rows_reports_each_once_and_counts_them(tmp_path: Path) -> None:
    manifest = _filtered_sheet(tmp_path / "筛选.xlsx")
    report = tmp_path / "report.csv"
    summary_path = tmp_path / "summary.json"
    args = ["--report", str(report), "--summary-json", str(summary_path), "--hidden-rows", "skip"]
    with emulator(images=5) as running:
        result = cli(_run(manifest, running.url, *args))
        state = running.emulator.images
        applied = dict(running.emulator.apply_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_report(report)
    reported_rows = sorted(int(r) for row in rows for r in row["rows"].split(";"))
    assert reported_rows == [2, 3, 4, 5, 6]  # every manifest row exactly once
    by_rows = {row["rows"]: row for row in rows}
    assert by_rows["2"]["status"] == "succeeded"
    assert state[IDS[0]]["name"] == "生产环境 Web 镜像"
    for hidden in ("3", "5"):
        assert by_rows[hidden]["status"] == "skipped"
        assert by_rows[hidden]["note"] == NOTE
        assert by_rows[hidden]["attempts"] == "0"
    assert json.loads(by_rows["3"]["ops"]) == [
        {"op": "replace", "path": "/name", "value": "测试环境 旧镜像"}
    ]
    assert IDS[1] not in applied
    assert applied[IDS[0]] == 1
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["hidden_rows_skipped"] == 2
    assert summary["counts"]["skipped"] == 2
    assert summary["counts"]["succeeded"] == 3
    assert "2 hidden rows skipped (--hidden-rows skip; in the report as skipped)" in result.stdout
    (event,) = [e for e in json_lines(result.stderr) if e["event"] == "manifest.hidden_rows"]
    assert (event["rows"], event["count"], event["hidden_rows"]) == ("rows 3, 5", 2, "skip")


def test_job_file_hidden_rows_include_sends_them_and_validate_job_refuses_without_it(
    tmp_path: Path,
) -> None:
    manifest = _filtered_sheet(tmp_path / "筛选.xlsx")
    unchosen = tmp_path / "unchosen.toml"
    unchosen.write_text(f'manifest = "{manifest.name}"\n', encoding="utf-8")
    included = tmp_path / "included.toml"
    included.write_text(
        f'manifest = "{manifest.name}"\nhidden-rows = "include"\nreport = "out.csv"\n',
        encoding="utf-8",
    )
    refused = cli(["validate-job", str(unchosen)])
    checked = cli(["validate-job", str(included)])
    with emulator(images=5) as running:
        result = cli(["run", "--job", str(included), "--endpoint", running.url])
        state = running.emulator.images

    assert refused.returncode == 2
    assert "rows 3, 5: hidden in the workbook" in refused.stderr
    assert checked.returncode == 1  # row 2 and hidden row 5 give image 0 two names
    assert "  hidden (include): rows 3, 5" in checked.stdout
    assert result.returncode == 1
    assert state[IDS[1]]["name"] == "测试环境 旧镜像"
    statuses = {row["image_id"]: row["status"] for row in read_report(tmp_path / "out.csv")}
    assert statuses[IDS[0]] == "invalid"


def test_plan_lists_hidden_rows_with_file_and_row_and_skip_leaves_them_out(
    tmp_path: Path,
) -> None:
    manifest = _filtered_sheet(tmp_path / "筛选.xlsx")
    unchosen = cli(["plan", str(manifest)])
    skipped = cli(["plan", str(manifest), "--hidden-rows", "skip"])

    assert unchosen.returncode == 1, unchosen.stderr  # rows 2 and 5 conflict when included
    assert (
        "hidden rows (2; a run refuses this manifest until given --hidden-rows skip or include):\n"
        f"  {manifest}: row 3: hidden in the workbook (an Excel filter, or hidden by hand)\n"
        f"  {manifest}: row 5: hidden in the workbook (an Excel filter, or hidden by hand)\n"
    ) in unchosen.stdout
    assert skipped.returncode == 0, skipped.stderr
    assert "3 rows, 3 images to update" in skipped.stdout
    assert "hidden rows (2; --hidden-rows skip: not in the counts above" in skipped.stdout


def test_formula_never_calculated_stops_plan_and_run_naming_the_cell(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["image_id", "name", "__description"])
    sheet.append([IDS[0], "web-01", "生产环境 Web 镜像"])
    sheet.append([IDS[1], '="镜像-"&"测试"', "测试"])  # saved by openpyxl: no cached value
    manifest = tmp_path / "generated.xlsx"
    book.save(manifest)

    planned = cli(["plan", str(manifest)])
    with emulator(images=2) as running:
        result = cli(_run(manifest, running.url, "--report", str(tmp_path / "r.csv")))
        requests = sum(running.emulator.request_counts.values())

    cell = f"{manifest}, row 3, column 'B': a formula that was never calculated"
    assert planned.returncode == 2
    assert cell in planned.stderr
    assert result.returncode == 2
    assert cell in result.stderr
    assert requests == 0
