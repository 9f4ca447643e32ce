"""Reading delimited manifests: formats, encodings, every cell as text, malformed files."""

from __future__ import annotations

import codecs
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import ManifestError
from batch_ims.manifest import Manifest, load_manifest
from batch_ims.models import Op

A = "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"
B = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def ops_of(manifest: Manifest) -> dict[str, tuple[Op, ...]]:
    return {task.image_id: task.ops for task in manifest.tasks}


def error_of(path: Path, **options: str) -> str:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, rules=IMS, **options)
    return str(caught.value)


# ---- formats and delimiters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("m.csv", ","), ("m.csv", ";"), ("m.csv", "\t"), ("m.tsv", "\t"), ("m.txt", "\t")],
)
def test_delimited_file_is_read_with_its_delimiter(
    tmp_path: Path, name: str, delimiter: str
) -> None:
    d = delimiter
    text = f"image_id{d}path{d}value\n{A}{d}name{d}web, prod; v2\n".replace(
        "web, prod; v2", '"web, prod; v2"'
    )
    manifest = load_manifest(write(tmp_path, name, text), rules=IMS)
    assert ops_of(manifest) == {A: (Op("replace", "/name", "web, prod; v2"),)}


def test_semicolon_csv_as_european_excel_writes_it(tmp_path: Path) -> None:
    text = f"image_id;op;path;value\r\n{A};add;__description;1,5 GB; test\r\n"
    manifest = load_manifest(
        write(tmp_path, "eu.csv", text.replace("1,5 GB; test", '"1,5 GB; test"')), rules=IMS
    )
    assert ops_of(manifest) == {A: (Op("add", "/__description", "1,5 GB; test"),)}


def test_every_cell_is_text_leading_zeros_and_na_words_kept(tmp_path: Path) -> None:
    text = (
        "image_id,path,value\n"
        f"{A},code,0001\n{A},na,NA\n{A},null,null\n{A},none,None\n{A},empty,\n{A},nan,nan\n"
    )
    manifest = load_manifest(write(tmp_path, "m.csv", text), rules=IMS)
    values = [op.value for op in manifest.tasks[0].ops]
    assert values == ["0001", "NA", "null", "None", "", "nan"]


def test_headers_are_case_insensitive_trimmed_and_may_carry_a_bom(tmp_path: Path) -> None:
    text = f"\ufeff Image_ID ,OP, Path ,VALUE\n{A},Add,/name,x\n"
    manifest = load_manifest(write(tmp_path, "m.csv", text), rules=IMS)
    assert ops_of(manifest) == {A: (Op("add", "/name", "x"),)}


# ---- encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_chinese_names_survive_each_encoding_excel_writes(tmp_path: Path, encoding: str) -> None:
    text = f"image_id,path,value\r\n{A},name,生产环境镜像-01\r\n{B},__description,中文描述\r\n"
    manifest = load_manifest(write(tmp_path, "m.csv", text, encoding), rules=IMS)
    assert ops_of(manifest) == {
        A: (Op("replace", "/name", "生产环境镜像-01"),),
        B: (Op("replace", "/__description", "中文描述"),),
    }


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le", "utf-32"])
def test_unicode_text_tab_separated_txt_is_read(tmp_path: Path, encoding: str) -> None:
    text = f"image_id\tpath\tvalue\r\n{A}\tname\t镜像\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    path = tmp_path / "excel-unicode.txt"
    path.write_bytes(data)
    assert ops_of(load_manifest(path, rules=IMS)) == {A: (Op("replace", "/name", "镜像"),)}


def test_encoding_option_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", f"image_id,path,value\n{A},name,é\n", "latin-1")
    assert ops_of(load_manifest(path, encoding="latin-1", rules=IMS)) == {
        A: (Op("replace", "/name", "é"),)
    }


def test_unknown_encoding_option_is_a_manifest_error(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", f"image_id,path,value\n{A},name,x\n")
    assert "unknown encoding 'klingon'" in error_of(path, encoding="klingon")


def test_stray_byte_in_utf8_text_names_the_encoding_offset_and_option(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    value = "生产环境镜像".encode() + b"\x80"
    path.write_bytes(b"image_id,path,value\n" + A.encode() + b",name," + value + b"\n")
    message = error_of(path)
    assert "not valid UTF-8 text: byte 0x80 at offset 80" in message
    assert "--encoding" in message


def test_forced_encoding_that_does_not_fit_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", f"image_id,path,value\n{A},name,镜像\n", "gb18030")
    assert "not valid UTF-8 text" in error_of(path, encoding="utf-8")


# ---- row numbers ----------------------------------------------------------------------------


def test_rows_are_numbered_by_record_when_a_cell_holds_a_line_break(tmp_path: Path) -> None:
    text = f'image_id,path,value,comment\n{A},name,a,"two\nlines"\n{B},min_ram,x,\n'
    manifest = load_manifest(write(tmp_path, "m.csv", text), rules=IMS)
    assert manifest.tasks[0].rows == (2,)
    assert [e.row for e in manifest.invalid[0].errors] == [3]


def test_blank_lines_are_skipped_but_keep_their_row_numbers(tmp_path: Path) -> None:
    text = f"\nimage_id,path,value\n\n{A},name,a\n,,\n{B},name,b\n\n"
    manifest = load_manifest(write(tmp_path, "m.csv", text), rules=IMS)
    assert [t.rows for t in manifest.tasks] == [(4,), (6,)]
    assert manifest.row_count == 2


# ---- malformed files ------------------------------------------------------------------------


def test_missing_file_directory_and_unsupported_extension(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.csv").endswith("nope.csv: no such file")
    (tmp_path / "d.csv").mkdir()
    assert "is a directory" in error_of(tmp_path / "d.csv")
    assert "use .csv, .tsv, .txt, .xlsx" in error_of(write(tmp_path, "m.json", "{}"))


def test_empty_file_header_only_and_blank_rows_only(tmp_path: Path) -> None:
    assert "the file is empty" in error_of(write(tmp_path, "a.csv", ""))
    assert "no data rows" in error_of(write(tmp_path, "b.csv", "image_id,path,value\n"))
    assert "no data rows" in error_of(write(tmp_path, "c.csv", "image_id,path,value\n\n,,\n"))
    assert "no header row: only blank lines" in error_of(write(tmp_path, "d.csv", "\n\n\n"))


def test_missing_image_id_column_lists_found_and_expected_columns(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "m.csv", "id,path,value\nx,y,z\n"))
    assert "no image_id column (found: 'id', 'path', 'value')" in message
    assert "expected image_id plus path" in message


def test_duplicate_column_is_named(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "m.csv", f"image_id,path,value,Value\n{A},a,b,c\n"))
    assert message.endswith(
        "row 1: duplicate column 'Value' (also column 3); each column may appear once"
    )


def test_wide_columns_naming_one_attribute_twice_are_duplicates(tmp_path: Path) -> None:
    assert "duplicate column '/name'" in error_of(
        write(tmp_path, "m.csv", f"image_id,name,/name\n{A},a,b\n")
    )


def test_row_with_more_cells_than_the_header_is_named(tmp_path: Path) -> None:
    text = f"image_id,path,value\n{A},name,a\n{A},name,a,x\n"
    message = error_of(write(tmp_path, "m.csv", text))
    assert "m.csv, row 3: this row has 4 cells, more than the header's 3 columns" in message


def test_row_with_two_extra_cells_says_how_many(tmp_path: Path) -> None:
    text = f"image_id,path,value\n{A},name,a\n{A},name,a,b,c\n"
    assert "row 3: this row has 5 cells, more than the header's 3 columns" in error_of(
        write(tmp_path, "m.csv", text)
    )


@pytest.mark.parametrize("extra", [",b", ",b,c,d"])
def test_extra_cells_in_the_first_data_row_are_not_dropped_silently(
    tmp_path: Path, extra: str
) -> None:
    text = f"image_id,path,value\n{A},name,a{extra}\n{A},tag,c\n"
    assert "row 2: this row has more cells than the header's 3 columns" in error_of(
        write(tmp_path, "m.csv", text)
    )


def test_trailing_delimiter_on_the_header_too_is_an_unnamed_ignored_column(
    tmp_path: Path,
) -> None:
    text = f"image_id,path,value,\n{A},name,a,\n"
    assert ops_of(load_manifest(write(tmp_path, "m.csv", text), rules=IMS)) == {
        A: (Op("replace", "/name", "a"),)
    }


def test_row_with_fewer_cells_reads_the_missing_ones_as_empty(tmp_path: Path) -> None:
    manifest = load_manifest(
        write(tmp_path, "m.csv", f"image_id,op,path,value\n{A},remove,tag\n"), rules=IMS
    )
    assert ops_of(manifest) == {A: (Op("remove", "/tag"),)}


def test_quote_never_closed_names_its_row(tmp_path: Path) -> None:
    text = f'image_id,path,value\n{A},name,a\n{A},name,"b\n{A},x,y\n'
    assert "row 3: a quoted cell that starts in this row is never closed" in error_of(
        write(tmp_path, "m.csv", text)
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes(range(256)) * 4, "binary data"),
        (b"image_id,path\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f,x\n", "binary data"),
        (b"PK\x03\x04rest-of-a-zip", "zip archive (an .xlsx workbook?)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old binary Excel file (.xls)"),
    ],
)
def test_binary_content_in_a_csv_is_refused(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    assert expected in error_of(path)


def test_a_cell_of_megabytes_makes_the_file_unusable(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", f"image_id,path,value\n{A},name,{'x' * 1_100_000}\n")
    message = error_of(path)
    assert "row 2, column 'value': a cell of 1100000 characters; at most 1000000" in message


def test_a_quoted_multi_line_cell_of_megabytes_is_caught_too(tmp_path: Path) -> None:
    big = "line\n" * 250_000
    path = write(tmp_path, "m.csv", f'image_id,path,value\n{A},name,a\n{A},__description,"{big}"\n')
    assert "row 3, column 'value': a cell of 1250000 characters" in error_of(path)


def test_sheet_option_with_a_csv_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", f"image_id,path,value\n{A},name,x\n")
    assert "--sheet applies to .xlsx" in error_of(path, sheet="Data")


def test_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "not a readable .xlsx workbook" in error_of(path)


def test_csv_text_named_xlsx_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "m.xlsx", f"image_id,path,value\n{A},name,x\n")
    assert "not an .xlsx workbook (not a zip archive); if it is CSV text, name it .csv" in error_of(
        path
    )


def test_importing_the_package_does_not_import_pandas() -> None:
    code = "import sys, batch_ims.manifest; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_utf16_forced_on_a_file_without_byte_order_mark_is_a_manifest_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"image_id,name\n0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,x\n")

    with pytest.raises(ManifestError, match="utf-16"):
        load_manifest(path, encoding="utf-16", rules=IMS)


def test_utf8_with_one_stray_latin1_byte_is_refused_not_read_as_a_code_page(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"image_id,op,path,value\n"
        + b"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,name,"
        + "生产镜像".encode()
        + b"\n1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,__description,caf\xe9s\n"
    )

    with pytest.raises(ManifestError, match="UTF-8"):
        load_manifest(path, rules=IMS)


def test_lines_of_only_spaces_or_tabs_are_skipped_like_empty_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "image_id,op,path,value\n"
        "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,name,foo\n\t\t\n   \n"
        "1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,name,bar\n",
        encoding="utf-8",
    )

    manifest = load_manifest(path, rules=IMS)

    assert (len(manifest.tasks), manifest.invalid) == (2, [])


def test_empty_cells_past_the_header_are_dropped_as_spreadsheets_export_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "image_id,op,path,value\n"
        "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,name,foo,,,\n"
        "1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,name,bar, ,\n",
        encoding="utf-8",
    )

    manifest = load_manifest(path, rules=IMS)

    assert [task.ops[0].value for task in manifest.tasks] == ["foo", "bar"]


def test_a_filled_cell_past_the_header_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "image_id,op,path,value\n"
        "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,name,foo,,\n"
        "1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9,replace,name,bar,oops\n",
        encoding="utf-8",
    )

    with pytest.raises(ManifestError) as caught:
        load_manifest(path, rules=IMS)

    assert caught.value.row == 3
