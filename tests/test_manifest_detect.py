"""Code-page detection on a corpus of small manifests, and the rules it is built from."""

from __future__ import annotations

import pytest

from batch_ims.errors import ManifestError
from batch_ims.manifest.detect import choose
from batch_ims.manifest.scripts import read_as
from bench.encoding import measure
from bench.encoding_corpus import LABELS, VOCABULARY, WRITTEN_AS, corpus

SEED = 2026
PER_LANGUAGE = 40  # x 6 code pages = 240 files


def _one_row(value: str, encoding: str) -> bytes:
    return f"image_id,name\r\n3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b,{value}\r\n".encode(encoding)


def test_corpus_is_never_garbled_reads_chinese_always_and_95_percent_overall() -> None:
    tally = measure(corpus(seed=SEED, per_language=PER_LANGUAGE))

    files = sum(sum(tally.counts[language].values()) for language in LABELS)
    assert files == 240
    assert [(s.encoding, s.text) for s, _ in tally.garbled] == []
    assert tally.counts["gbk"]["right"] == PER_LANGUAGE
    assert tally.share("right") >= 0.95
    assert tally.share("right", ["utf-8"]) == 1.0  # with and without BOM


def test_corpus_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    def texts(seed: int) -> list[str]:
        return [sample.text for sample in corpus(seed=seed, per_language=5)]

    assert texts(SEED) == texts(SEED)
    assert texts(SEED) != texts(SEED + 1)


@pytest.mark.parametrize("language", list(VOCABULARY))
def test_vocabulary_is_non_ascii_text_of_its_code_page_read_as_common(language: str) -> None:
    words = VOCABULARY[language]
    for encoding in WRITTEN_AS.get(language, (language,)):
        assert [w for w in words if w.isascii() or w.encode(encoding).decode(encoding) != w] == []
    candidate = "gb18030" if language == "gbk" else language
    readings = {word: read_as(word.encode(candidate), candidate) for word in words}
    assert [word for word, reading in readings.items() if reading is None] == []


@pytest.mark.parametrize("value", ["生产环境 Web 镜像", "镜像测试-3", "镜像", "深圳 v2", "运维组"])
def test_short_gbk_values_are_read_as_gb18030(value: str) -> None:
    assert choose("m.csv", _one_row(value, "gbk")) == "gb18030"


@pytest.mark.parametrize("value", ["東京", "検証環境", "本番環境 Web", "田中-3"])
def test_short_shift_jis_values_are_read_as_cp932(value: str) -> None:
    assert choose("m.csv", _one_row(value, "cp932")) == "cp932"


def test_big5_word_that_reads_as_common_simplified_characters_is_refused_naming_both() -> None:
    with pytest.raises(ManifestError) as caught:
        choose("m.csv", _one_row("高雄", "big5"))

    assert caught.value.problem.startswith("not UTF-8, and its encoding is ambiguous")
    assert "big5 ('高雄')" in caught.value.problem
    assert "gb18030 ('蔼动')" in caught.value.problem
    assert "--encoding" in caught.value.problem


def test_cyrillic_reading_of_chinese_bytes_is_ruled_out_by_russian_spelling() -> None:
    data = "深圳".encode("gbk")  # ЙоЫЪ in cp1251: no Russian word part starts with Ы

    assert read_as(data, "cp1251") is None
    assert read_as(data, "gb18030") is not None


def test_korean_reading_of_chinese_bytes_has_syllables_no_korean_word_uses() -> None:
    korean = read_as("备份".encode("gbk"), "cp949")  # 구룀

    assert korean is not None
    assert (korean.text, korean.common) == ("구룀", 0.5)


def test_latin_reading_needs_an_ascii_letter_in_each_word_with_accents() -> None:
    assert read_as("Москва".encode("cp1251"), "cp1252") is None  # Ìîñêâà
    reading = read_as("München Café".encode("cp1252"), "cp1252")
    assert reading is not None
    assert reading.common == 1.0


def test_gb18030_characters_beyond_gb2312_are_rare_not_foreign() -> None:
    value = "王喆 𠮷野家 数据库"  # 喆: GBK only; 𠮷: four bytes in GB18030

    assert choose("m.csv", _one_row(value, "gb18030")) == "gb18030"


def test_korean_file_the_language_models_cannot_place_is_refused_not_read_as_chinese() -> None:
    data = "image_id,name\r\nx,검증\r\ny,공용\r\nz,고객지원\r\n".encode("cp949")

    with pytest.raises(ManifestError) as caught:
        choose("m.csv", data)

    assert "cp949 ('검증')" in caught.value.problem
    assert "gb18030 ('八刘')" in caught.value.problem
