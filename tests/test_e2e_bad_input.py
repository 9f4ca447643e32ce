"""End to end, issue 8's bad input: manifests as Excel and other tools really save them,
hostile cells, malformed files, xlsx cell rules and path injection. The real CLI runs
against the emulator over loopback; what the emulator received is the proof."""

from __future__ import annotations

import codecs
import copy
import csv
import datetime as dt
import io
import json
import random
import re
import subprocess
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch_ims.emulator.background import BackgroundEmulator
from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import clean_env, cli, emulator, json_lines, read_report, write_csv

IDS = [generated_image_id(i) for i in range(12)]
PATCH_ROUTE = "PATCH /v2/cloudimages/{image_id}"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CHINESE_NAMES = ("生产环境镜像-01", "测试镜像（第二版）", "𠮷野家-数据库,主库")
CHINESE_DESCRIPTION = "中文描述：数据库服务器；勿删"


def _run(
    running: BackgroundEmulator,
    manifest: Path,
    report: Path,
    *extra: str,
    log_format: str = "json",
) -> subprocess.CompletedProcess[str]:
    args = ["run", str(manifest), "--endpoint", running.url, "--report", str(report)]
    return cli([*args, "--rate", "100000", "--log-format", log_format, *extra])


def _generated_name(index: int) -> str:
    """The name the emulator gives its `index`-th generated image."""
    return f"image-{index:05d}"


def _patches(running: BackgroundEmulator) -> int:
    return running.emulator.request_counts[PATCH_ROUTE]


def _event(stderr: str, name: str) -> dict[str, Any]:
    return next(event for event in json_lines(stderr) if event["event"] == name)


def _delimited(rows: Sequence[Sequence[str]], delimiter: str) -> str:
    """Rows as Excel writes them: CRLF line ends, cells quoted only when needed."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


# --- encodings ----------------------------------------------------------------------------


def _wide_rows() -> list[list[str]]:
    rows = [["image_id", "name", "__description"]]
    rows += [[IDS[i], name, CHINESE_DESCRIPTION] for i, name in enumerate(CHINESE_NAMES)]
    return rows


def _long_rows() -> list[list[str]]:
    rows = [["image_id", "op", "path", "value"]]
    for i, name in enumerate(CHINESE_NAMES):
        rows += [
            [IDS[i], "replace", "name", name],
            [IDS[i], "", "__description", CHINESE_DESCRIPTION],
        ]
    return rows


# file name, bytes, the encoding and delimiter the reader must detect
EXCEL_FILES: dict[str, tuple[str, Callable[[], bytes], str, str]] = {
    "gb18030-csv-of-chinese-windows": (
        "m.csv",
        lambda: _delimited(_wide_rows(), ",").encode("gb18030"),
        "gb18030",
        ",",
    ),
    "utf8-bom-csv": (
        "m.csv",
        lambda: _delimited(_wide_rows(), ",").encode("utf-8-sig"),
        "utf-8-sig",
        ",",
    ),
    "utf16-unicode-text-txt": (
        "m.txt",
        lambda: codecs.BOM_UTF16_LE + _delimited(_long_rows(), "\t").encode("utf-16-le"),
        "utf-16",
        "\t",
    ),
    "semicolon-csv-of-european-excel": (
        "m.csv",
        lambda: _delimited(_long_rows(), ";").encode("utf-8-sig"),
        "utf-8-sig",
        ";",
    ),
}


@pytest.mark.parametrize("kind", list(EXCEL_FILES))
def test_chinese_names_land_intact_from_each_file_excel_writes(tmp_path: Path, kind: str) -> None:
    name, make, encoding, delimiter = EXCEL_FILES[kind]
    manifest = tmp_path / name
    manifest.write_bytes(make())
    if encoding == "gb18030":  # so that only detection can keep the names
        with pytest.raises(UnicodeDecodeError):
            manifest.read_bytes().decode("utf-8")

    with emulator(images=3) as running:
        result = _run(running, manifest, tmp_path / "r.csv")
        names = [running.emulator.images[IDS[i]]["name"] for i in range(3)]
        descriptions = [running.emulator.images[IDS[i]]["__description"] for i in range(3)]
        patches = _patches(running)

    assert result.returncode == 0, result.stderr[-2000:]
    assert names == list(CHINESE_NAMES)
    assert descriptions == [CHINESE_DESCRIPTION] * 3
    assert patches == 3
    read = _event(result.stderr, "manifest.read")
    assert (read["encoding"], read["delimiter"]) == (encoding, delimiter)


def test_encoding_option_reads_a_big5_file_that_detection_would_misread(tmp_path: Path) -> None:
    names = ["正式環境映像（第二版）", "測試伺服器映像"]
    rows = [["image_id", "name"], *([IDS[i], n] for i, n in enumerate(names))]
    data = _delimited(rows, ",").encode("big5")
    assert data.decode("gb18030", errors="replace") != _delimited(rows, ",")  # not a no-op
    manifest = tmp_path / "big5.csv"
    manifest.write_bytes(data)

    with emulator(images=2) as running:
        result = _run(running, manifest, tmp_path / "r.csv", "--encoding", "big5")
        received = [running.emulator.images[IDS[i]]["name"] for i in range(2)]

    assert result.returncode == 0, result.stderr[-2000:]
    assert received == names
    assert _event(result.stderr, "manifest.read")["encoding"] == "big5"


def test_plan_reads_a_short_gbk_file_of_chinese_windows_excel(tmp_path: Path) -> None:
    rows = [["image_id", "name", "__description"], [IDS[0], "生产环境 Web 镜像", "镜像测试-3"]]
    manifest = tmp_path / "gbk.csv"
    manifest.write_bytes(_delimited(rows, ",").encode("gbk"))

    result = cli(["plan", str(manifest)], env=clean_env(), cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "'生产环境 Web 镜像'" in result.stdout
    assert "'镜像测试-3'" in result.stdout
    assert _event(result.stderr, "manifest.read")["encoding"] == "gb18030"


# --- formula injection into the report ---------------------------------------------------

HOSTILE_IDS = ('=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "\t=1", "\r=1")
HOSTILE_VALUES = {  # valid images whose values a spreadsheet would run
    IDS[0]: ("replace", "name", "=cmd|' /C calc'!A0"),
    IDS[1]: ("add", "__description", "+SUM(1,2)"),
    IDS[2]: ("add", "cost_center", "-2+3"),
    IDS[3]: ("add", "owner_note", "@SUM(A1)"),
    IDS[4]: ("add", "__description", '\t=HYPERLINK("http://x","y")'),
    IDS[5]: ("replace", "name", '=HYPERLINK("http://x","y")'),
}


def _hostile_manifest(path: Path) -> Path:
    rows = [["image_id", "op", "path", "value"]]
    rows += [[image_id, "replace", "name", "x"] for image_id in HOSTILE_IDS]
    rows += [[image_id, op, attr, value] for image_id, (op, attr, value) in HOSTILE_VALUES.items()]
    return write_csv(path, rows)


def _hostile_run(tmp_path: Path, suffix: str) -> Path:
    manifest = _hostile_manifest(tmp_path / "hostile.csv")
    report = tmp_path / f"report{suffix}"
    with emulator(images=len(HOSTILE_VALUES)) as running:
        result = _run(running, manifest, report)
        received = {
            image_id: running.emulator.images[image_id][attr]
            for image_id, (_, attr, _) in HOSTILE_VALUES.items()
        }
        patches = _patches(running)
    assert result.returncode == 1, result.stderr[-2000:]
    assert received == {image_id: value for image_id, (_, _, value) in HOSTILE_VALUES.items()}
    assert patches == len(HOSTILE_VALUES)
    return report


def _assert_inert(cells: list[list[str]]) -> None:
    armed = [cell for row in cells for cell in row if cell.startswith(TRIGGERS)]
    assert armed == []


def _assert_report_rows(header: list[str], rows: list[list[str]]) -> None:
    """The hostile ids are invalid rows, the hostile values succeeded, shown raw in `ops`."""
    records = [dict(zip(header, row, strict=True)) for row in rows]
    invalid = sorted(r["image_id"].removeprefix("'") for r in records if r["status"] == "invalid")
    assert invalid == sorted(raw.strip() for raw in HOSTILE_IDS)
    succeeded = {r["image_id"]: json.loads(r["ops"]) for r in records if r["status"] == "succeeded"}
    assert succeeded == {
        image_id: [{"op": op, "path": "/" + attr, "value": value}]
        for image_id, (op, attr, value) in HOSTILE_VALUES.items()
    }


def test_csv_report_of_hostile_ids_and_values_has_no_cell_a_spreadsheet_would_run(
    tmp_path: Path,
) -> None:
    report = _hostile_run(tmp_path, ".csv")
    with report.open(encoding="utf-8-sig", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    _assert_inert([header, *rows])
    _assert_report_rows(header, rows)
    assert len(rows) == len(HOSTILE_IDS) + len(HOSTILE_VALUES)


def test_xlsx_report_of_hostile_ids_and_values_holds_no_formula(tmp_path: Path) -> None:
    report = _hostile_run(tmp_path, ".xlsx")
    sheet = openpyxl.load_workbook(report).worksheets[0]
    formulas = [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    header, *rows = [["" if v is None else str(v) for v in row] for row in sheet.values]
    _assert_inert([header, *rows])
    _assert_report_rows(header, rows)


def test_jsonl_report_keeps_the_raw_hostile_text(tmp_path: Path) -> None:
    report = _hostile_run(tmp_path, ".jsonl")
    lines = json_lines(report.read_text(encoding="utf-8"))
    invalid = [
        (line["image_id"], line["error_message"]) for line in lines if line["status"] == "invalid"
    ]
    assert sorted(image_id for image_id, _ in invalid) == sorted(raw.strip() for raw in HOSTILE_IDS)
    for raw in HOSTILE_IDS:  # each raw cell is quoted in its row's message, tab and CR kept
        assert [m for i, m in invalid if repr(raw) in m and i == raw.strip()] != [], raw
    assert all("not an image id" in message for _, message in invalid)
    succeeded = {line["image_id"]: line["ops"] for line in lines if line["status"] == "succeeded"}
    assert succeeded == {
        image_id: [{"op": op, "path": "/" + attr, "value": value}]
        for image_id, (op, attr, value) in HOSTILE_VALUES.items()
    }


# --- malformed files: exit 2, one line naming the file, nothing sent ---------------------

GOOD_ROW = f"{IDS[0]},renamed\n"


def _zip_of_nothing(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")


MALFORMED: dict[str, tuple[str, Callable[[Path], object], str]] = {
    # case: (file name, how to make it, what the error line must say)
    "empty file": ("m.csv", lambda p: p.write_bytes(b""), "the file is empty"),
    "header only": ("m.csv", lambda p: p.write_text("image_id,name\n"), "no data rows"),
    "no image_id column": (
        "m.csv",
        lambda p: p.write_text("id,name\n" + GOOD_ROW),
        "no image_id column",
    ),
    "duplicate columns": (
        "m.csv",
        lambda p: p.write_text("image_id,name,Name\n" + f"{IDS[0]},a,b\n"),
        "duplicate column 'Name'",
    ),
    "ragged rows": (
        "m.csv",
        lambda p: p.write_text("image_id,name\n" + GOOD_ROW + f"{IDS[1]},a,b,c\n"),
        "row 3: this row has 4 cells, more than the header's 2 columns",
    ),
    "binary garbage": (
        "m.csv",
        lambda p: p.write_bytes(random.Random(8).randbytes(4096)),
        "binary data",
    ),
    "xlsx that is not a zip": (
        "m.xlsx",
        lambda p: p.write_text("image_id,name\n" + GOOD_ROW),
        "not an .xlsx workbook",
    ),
    "zip that is not a workbook": ("m.xlsx", _zip_of_nothing, "not a readable .xlsx workbook"),
    "missing file": ("nowhere.csv", lambda p: None, "no such file"),
    "directory": ("folder.csv", lambda p: p.mkdir(), "is a directory"),
    "cell of 2 MB": (
        "m.csv",
        lambda p: p.write_text("image_id,name\n" + GOOD_ROW + f"{IDS[1]},{'x' * 2_000_000}\n"),
        "row 3, column 'name': a cell of 2000000 characters",
    ),
    "unsupported extension": (
        "m.xls",
        lambda p: p.write_text("image_id,name\n" + GOOD_ROW),
        "unsupported file type '.xls'",
    ),
}


def _error_event(stderr: str) -> str:
    """With JSON logs every stderr line is a JSON event and exactly one is `run.error`;
    no warning or error besides it. The error's text."""
    assert "Traceback" not in stderr
    events = [json.loads(line) for line in stderr.splitlines()]
    errors = [e for e in events if e["event"] == "run.error"]
    assert len(errors) == 1, stderr[-3000:]
    assert (errors[0]["level"], errors[0]["exit_code"]) == ("error", 2)
    loud = [e["event"] for e in events if e["level"] in ("warning", "error", "critical")]
    assert loud == ["run.error"]
    return str(errors[0]["error"])


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_exits_2_with_one_error_naming_it_and_sends_nothing(
    tmp_path: Path, case: str
) -> None:
    name, make, problem = MALFORMED[case]
    manifest = tmp_path / name
    make(manifest)
    report = tmp_path / "r.csv"

    with emulator(images=2) as running:
        result = _run(running, manifest, report)
        requests = sum(running.emulator.request_counts.values())
        applied = sum(running.emulator.apply_counts.values())

    assert result.returncode == 2, result.stderr[-2000:]
    error = _error_event(result.stderr)
    assert error.startswith(f"{manifest}")
    assert problem in error
    assert (requests, applied) == (0, 0)
    assert result.stdout == ""


DUPLICATE_ERROR = "row 1: duplicate column 'name' (also column 2); each column may appear once"


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_malformed_file_error_is_the_last_line_after_info_events_only(
    tmp_path: Path, log_format: str
) -> None:
    """Credentials are resolved (and logged at info) before the manifest is read, so one
    `auth.mode_selected` line may precede the error; nothing else may."""
    manifest = tmp_path / "m.csv"
    manifest.write_text("image_id,name,name\n" + GOOD_ROW)
    with emulator(images=1) as running:
        result = _run(running, manifest, tmp_path / "r.csv", log_format=log_format)
        requests = sum(running.emulator.request_counts.values())
    assert (result.returncode, requests) == (2, 0)
    *before, last = result.stderr.splitlines()
    if log_format == "json":
        assert json.loads(last)["error"] == f"{manifest}, {DUPLICATE_ERROR}"
        assert [json.loads(line)["level"] for line in before] == ["info"] * len(before)
    else:
        assert last == f"batch-ims: error: {manifest}, {DUPLICATE_ERROR}"
        assert [line for line in before if "[info     ]" not in line] == []
    assert len(before) <= 1, result.stderr


# --- .xlsx cells: cached formulas, dates in the id column, hidden sheets ------------------


def _set_cached_values(path: Path, cached: dict[str, tuple[str, str]]) -> None:
    """Give formula cells the cached value Excel stores beside the formula (openpyxl
    writes none): cell -> (type, value), type "str" for text or "n" for a number."""
    sheet_name = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as archive:
        parts = {item: archive.read(item) for item in archive.namelist()}
    xml = parts[sheet_name].decode("utf-8")
    for cell, (kind, value) in cached.items():
        pattern = re.compile(rf'<c r="{cell}"( t="\w+")?><f>(.*?)</f><v\s*/>\s*</c>')
        typed = ' t="str"' if kind == "str" else ""
        match = pattern.search(xml)
        assert match is not None, f"formula cell {cell} not found in {xml}"
        cached_cell = f'<c r="{cell}"{typed}><f>{match.group(2)}</f><v>{value}</v></c>'
        xml = xml[: match.start()] + cached_cell + xml[match.end() :]
    parts[sheet_name] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for item, data in parts.items():
            archive.writestr(item, data)


def test_xlsx_formula_cells_send_their_cached_values(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["image_id", "min_ram", "name"])
    sheet.append([f'=LOWER("{IDS[0].upper()}")', "=1000+24", '=CONCAT("web","-01")'])
    sheet.append([IDS[1], "=2*2048", '=A3&"-x"'])
    manifest = tmp_path / "formulas.xlsx"
    book.save(manifest)
    _set_cached_values(
        manifest,
        {
            "A2": ("str", IDS[0]),
            "B2": ("n", "1024"),
            "C2": ("str", "web-01"),
            "B3": ("n", "4096"),
            "C3": ("str", "db-01"),
        },
    )

    with emulator(images=2) as running:
        result = _run(running, manifest, tmp_path / "r.jsonl")
        state = {i: dict(running.emulator.images[IDS[i]]) for i in range(2)}

    assert result.returncode == 0, result.stderr[-2000:]
    assert (state[0]["name"], state[0]["min_ram"]) == ("web-01", 1024)
    assert (state[1]["name"], state[1]["min_ram"]) == ("db-01", 4096)
    lines = {
        line["image_id"]: line["ops"]
        for line in json_lines((tmp_path / "r.jsonl").read_text(encoding="utf-8"))
    }
    assert lines[IDS[0]] == [
        {"op": "add", "path": "/min_ram", "value": "1024"},
        {"op": "add", "path": "/name", "value": "web-01"},
    ]


def test_date_in_the_xlsx_id_column_is_an_invalid_row_naming_row_and_column(
    tmp_path: Path,
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["image_id", "name"])
    sheet.append([IDS[0], "kept-0"])
    sheet.append([dt.datetime(2024, 5, 6), "lost"])
    sheet.append([IDS[1], "kept-1"])
    manifest = tmp_path / "dates.xlsx"
    book.save(manifest)
    report = tmp_path / "r.csv"

    with emulator(images=2) as running:
        result = _run(running, manifest, report)
        names = [running.emulator.images[IDS[i]]["name"] for i in range(2)]
        patches = _patches(running)

    assert result.returncode == 1, result.stderr[-2000:]
    assert (names, patches) == (["kept-0", "kept-1"], 2)
    rows = read_report(report)
    assert sorted(row["status"] for row in rows) == ["invalid", "succeeded", "succeeded"]
    message = next(row["error_message"] for row in rows if row["status"] == "invalid")
    assert message.startswith("row 3, column 'image_id', value '2024-05-06': a date"), message
    assert "format the column as Text" in message


def test_hidden_sheet_is_ignored_unless_named_with_sheet(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, image_id, name in (("Old", IDS[0], "from-hidden"), ("Live", IDS[1], "from-live")):
        sheet = book.create_sheet(title)
        sheet.append(["image_id", "name"])
        sheet.append([image_id, name])
    book["Old"].sheet_state = "hidden"  # the first sheet, but hidden
    manifest = tmp_path / "sheets.xlsx"
    book.save(manifest)

    with emulator(images=2) as running:
        first = _run(running, manifest, tmp_path / "first.csv")
        after_default = [running.emulator.images[IDS[i]]["name"] for i in range(2)]
        second = _run(running, manifest, tmp_path / "second.csv", "--sheet", "Old")
        after_named = [running.emulator.images[IDS[i]]["name"] for i in range(2)]
        applied = dict(running.emulator.apply_counts)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert after_default == [_generated_name(0), "from-live"]
    assert after_named == ["from-hidden", "from-live"]
    assert applied == {IDS[0]: 1, IDS[1]: 1}


# --- path injection ----------------------------------------------------------------------

BAD_PATHS = {  # image -> attribute path that must never reach a request line or header
    IDS[0]: "name/x",
    IDS[1]: "tag\r\nX-Injected: 1",
    IDS[2]: "cost center",
    IDS[3]: "tag%0d%0aX-Injected:%201",
    IDS[4]: "标签",
    IDS[5]: "Cost_Center",
    IDS[6]: "/../name",
}
BAD_IDS = (
    f"../{IDS[8]}",
    f"{IDS[8]}/../{IDS[9]}",
    f"%2e%2e%2f{IDS[8]}",
    IDS[8].replace("-", "%2d"),
    f"{IDS[9]}?name=x",
    f"{IDS[9]}\r\nX-Injected: 1",
)


def test_injected_paths_and_ids_are_invalid_rows_and_never_sent(tmp_path: Path) -> None:
    rows = [["image_id", "op", "path", "value"]]
    rows += [[image_id, "add", path, "v"] for image_id, path in BAD_PATHS.items()]
    rows += [[image_id, "replace", "name", "hijacked"] for image_id in BAD_IDS]
    rows += [
        [IDS[7], "add", "/cost_center", "ok"],
        [IDS[10].upper(), "replace", "name", "from-upper-case-id"],
        [f"  {IDS[11]}  ", "replace", "name", "from-padded-id"],
    ]
    manifest = write_csv(tmp_path / "inject.csv", rows)
    report = tmp_path / "r.jsonl"

    with emulator(images=12) as running:
        before = copy.deepcopy(running.emulator.images)
        result = _run(running, manifest, report)
        state = copy.deepcopy(running.emulator.images)
        applied = dict(running.emulator.apply_counts)
        requests = dict(running.emulator.request_counts)

    assert result.returncode == 1, result.stderr[-2000:]
    assert requests == {PATCH_ROUTE: 3}
    assert applied == {IDS[7]: 1, IDS[10]: 1, IDS[11]: 1}
    assert state[IDS[7]]["cost_center"] == "ok"
    assert state[IDS[10]]["name"] == "from-upper-case-id"
    assert state[IDS[11]]["name"] == "from-padded-id"
    untouched = [IDS[i] for i in (*range(7), 8, 9)]
    assert [state[i] for i in untouched] == [before[i] for i in untouched]
    lines = {line["image_id"]: line for line in json_lines(report.read_text(encoding="utf-8"))}
    assert len(lines) == len(BAD_PATHS) + len(BAD_IDS) + 3
    for image_id, path in BAD_PATHS.items():
        assert lines[image_id]["status"] == "invalid"
        assert f"column 'path', value {path!r}" in lines[image_id]["error_message"]
    assert "must be lower-case" in lines[IDS[5]]["error_message"]
    for raw in BAD_IDS:
        assert lines[raw]["status"] == "invalid"
        assert "not an image id" in lines[raw]["error_message"]


def test_wide_header_that_is_not_an_attribute_name_is_one_error_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    rows = [
        ["image_id", "Name", "bad/attr", "x\r\nX-Injected: 1"],
        [IDS[0], "wide-ok", "", ""],
        [IDS[1], "", "v", ""],
        [IDS[2], "", "", "v"],
    ]
    manifest = write_csv(tmp_path / "wide.csv", rows)

    with emulator(images=3) as running:
        result = _run(running, manifest, tmp_path / "r.csv")
        requests = sum(running.emulator.request_counts.values())

    assert (result.returncode, requests) == (2, 0), result.stderr[-2000:]
    error = _error_event(result.stderr)
    assert error.startswith(f"{manifest}, row 1, column 'C': the header 'bad/attr' is not")
