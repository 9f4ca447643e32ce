"""Encoding detection on small, realistic manifests: read right, or refuse naming the options."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import ManifestError
from batch_ims.manifest import load_manifest
from batch_ims.manifest.detect import CANDIDATES, non_ascii_cells

IDS = (
    "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b",
    "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "5b9f3d20-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
)
WESTERN = ("Müller", "Crème brûlée", "Straße")
CHINESE = ("生产环境镜像", "测试镜像（第二版）", "数据库主库")


def _csv(tmp_path: Path, names: tuple[str, ...], encoding: str) -> Path:
    lines = ["image_id,name"] + [f"{i},{n}" for i, n in zip(IDS, names, strict=False)]
    path = tmp_path / "m.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _names(path: Path, **options: str) -> list[str | None]:
    manifest = load_manifest(path, rules=IMS, **options)
    return [task.ops[0].value for task in manifest.tasks]


def _encoding_logged(path: Path) -> object:
    with capture_logs() as logs:
        load_manifest(path, rules=IMS)
    return next(e["encoding"] for e in logs if e["event"] == "manifest.read")


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_three_row_western_windows_csv_is_read_as_cp1252_not_gb18030(
    tmp_path: Path, encoding: str
) -> None:
    path = _csv(tmp_path, WESTERN, encoding)
    assert _names(path) == list(WESTERN)
    assert _encoding_logged(path) == "cp1252"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_three_row_chinese_windows_csv_is_read_as_gb18030(tmp_path: Path, encoding: str) -> None:
    path = _csv(tmp_path, CHINESE, encoding)
    assert _names(path) == list(CHINESE)
    assert _encoding_logged(path) == "gb18030"


def test_cyrillic_windows_csv_is_read_as_cp1251(tmp_path: Path) -> None:
    names = ("Сервер базы данных", "Тестовый образ")
    assert _names(_csv(tmp_path, names, "cp1251")) == list(names)


def test_valid_utf8_is_utf8_even_when_a_code_page_would_also_decode_it(tmp_path: Path) -> None:
    path = _csv(tmp_path, WESTERN, "utf-8")
    assert _names(path) == list(WESTERN)
    assert _encoding_logged(path) == "utf-8"


def test_two_chinese_characters_in_gbk_are_read_as_gb18030(tmp_path: Path) -> None:
    path = _csv(tmp_path, ("镜像",), "gbk")
    assert _names(path) == ["镜像"]
    assert _encoding_logged(path) == "gb18030"


def test_ambiguous_big5_word_is_refused_and_read_with_the_encoding_option(
    tmp_path: Path,
) -> None:
    path = _csv(tmp_path, ("高雄",), "big5")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, rules=IMS)
    assert str(caught.value).startswith(f"{path}: not UTF-8, and its encoding is ambiguous")
    assert _names(path, encoding="big5") == ["高雄"]


def test_central_european_text_is_refused_not_garbled_and_reads_with_the_option(
    tmp_path: Path,
) -> None:
    names = ("Łódź serwer główny", "Zażółć gęślą jaźń")
    path = _csv(tmp_path, names, "cp1250")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, rules=IMS)
    assert "no reading as" in str(caught.value)
    assert "--encoding" in str(caught.value)
    assert _names(path, encoding="cp1250") == list(names)


def test_detector_sees_only_the_distinct_non_ascii_cells() -> None:
    data = 'image_id,name\r\nx,Müller\r\ny,"Crème brûlée"\r\nz,Müller\r\n'.encode("cp1252")
    assert non_ascii_cells(data) == "Müller\nCrème\nbrûlée".encode("cp1252")


def test_candidates_are_real_codecs() -> None:
    import codecs

    assert [codecs.lookup(name).name for name in CANDIDATES] == list(CANDIDATES)
