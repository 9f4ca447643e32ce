"""The attribute and value rules of IMS PATCH, one function at a time."""

from __future__ import annotations

import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.manifest.attributes import (
    attribute_error,
    check_value,
    normalize_image_id,
    parse_op,
    parse_path,
    remove_error,
)

UUID = "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"


def test_image_id_is_trimmed_and_lower_cased() -> None:
    assert normalize_image_id(f"  {UUID.upper()} ") == UUID


@pytest.mark.parametrize(
    "raw",
    ["", "   ", UUID[:-1], UUID + "0", UUID.replace("-", ""), "{" + UUID + "}", "g" + UUID[1:]],
)
def test_image_id_that_is_not_a_canonical_uuid_is_refused(raw: str) -> None:
    assert normalize_image_id(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("add", "add"), (" REPLACE ", "replace"), ("Remove", "remove"), ("", "replace")],
)
def test_op_is_case_insensitive_and_empty_means_replace(raw: str, expected: str) -> None:
    assert parse_op(raw) == expected


@pytest.mark.parametrize("raw", ["delete", "set", "add remove", "move"])
def test_unknown_op_is_refused(raw: str) -> None:
    assert parse_op(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("/name", "name"), (" name ", "name"), ("//x", "/x")]
)
def test_path_drops_one_leading_slash_and_spaces(raw: str, expected: str) -> None:
    assert parse_path(raw) == expected


@pytest.mark.parametrize("name", sorted(IMS.read_only))
def test_read_only_attribute_is_refused_naming_the_modifiable_ones(name: str) -> None:
    error = attribute_error(name, rules=IMS)
    assert error is not None
    assert "read-only" in error
    assert "min_ram" in error


@pytest.mark.parametrize("name", sorted(IMS.modifiable))
def test_documented_modifiable_attribute_is_accepted(name: str) -> None:
    assert attribute_error(name, rules=IMS) is None


@pytest.mark.parametrize("name", ["my_tag", "owner-team", "env.stage", "app:version", "x9"])
def test_lower_case_extension_attribute_is_accepted(name: str) -> None:
    assert attribute_error(name, rules=IMS) is None


def test_upper_case_attribute_is_refused_with_the_lower_case_suggestion() -> None:
    error = attribute_error("MyTag", rules=IMS)
    assert error is not None
    assert "'mytag'" in error


@pytest.mark.parametrize("name", ["a/b", "a b", "a\nb", "a\r\nX-Injected: 1", "tag\x00", "é"])
def test_attribute_name_that_could_inject_or_is_not_plain_is_refused(name: str) -> None:
    assert attribute_error(name, rules=IMS) is not None


def test_unknown_double_underscore_attribute_is_refused_as_reserved() -> None:
    error = attribute_error("__suport_kvm", rules=IMS)
    assert error is not None
    assert "system attributes" in error


def test_empty_and_overlong_attribute_names_are_refused() -> None:
    assert attribute_error("", rules=IMS) is not None
    assert attribute_error("a" * 256, rules=IMS) is not None
    assert attribute_error("a" * 255, rules=IMS) is None


def test_name_cannot_be_removed_but_an_extension_attribute_can() -> None:
    assert remove_error("name", rules=IMS) is not None
    assert remove_error("my_tag", rules=IMS) is None


@pytest.mark.parametrize(
    ("raw", "sent"), [("TRUE", "true"), (" false ", "false"), ("True", "true")]
)
def test_boolean_is_normalised_to_lower_case(raw: str, sent: str) -> None:
    assert check_value("__support_kvm", raw, rules=IMS) == (sent, None)


@pytest.mark.parametrize("raw", ["yes", "1", "", "t"])
def test_boolean_other_than_true_or_false_is_refused(raw: str) -> None:
    sent, error = check_value("hw_vif_multiqueue_enabled", raw, rules=IMS)
    assert (sent, error) == (raw, "hw_vif_multiqueue_enabled must be true or false")


@pytest.mark.parametrize(("raw", "sent"), [("1024", "1024"), (" 0 ", "0"), ("0004096", "4096")])
def test_min_ram_is_a_whole_number_sent_without_leading_zeros(raw: str, sent: str) -> None:
    assert check_value("min_ram", raw, rules=IMS) == (sent, None)


@pytest.mark.parametrize("raw", ["-1", "+5", "1.5", "1e3", "", "１２", "2147483648", "1 024"])
def test_min_ram_that_is_not_plain_digits_in_range_is_refused_naming_the_unit(raw: str) -> None:
    _, error = check_value("min_ram", raw, rules=IMS)
    assert error is not None
    assert "megabytes" in error


def test_firmware_type_accepts_bios_or_uefi_in_any_case() -> None:
    assert check_value("hw_firmware_type", "UEFI", rules=IMS) == ("uefi", None)
    assert (
        check_value("hw_firmware_type", "efi", rules=IMS)[1]
        == "hw_firmware_type must be one of: bios, uefi"
    )


def test_enterprise_project_id_is_zero_or_a_uuid() -> None:
    assert check_value("enterprise_project_id", "0", rules=IMS) == ("0", None)
    assert check_value("enterprise_project_id", UUID.upper(), rules=IMS) == (UUID, None)
    assert check_value("enterprise_project_id", "default", rules=IMS)[1] is not None


def test_name_of_128_characters_is_accepted_and_129_refused() -> None:
    assert check_value("name", "n" * 128, rules=IMS) == ("n" * 128, None)
    assert (
        check_value("name", "n" * 129, rules=IMS)[1]
        == "name has 129 characters; at most 128 are allowed"
    )


@pytest.mark.parametrize("raw", ["", " lead", "trail ", "tab\there"])
def test_name_empty_padded_or_with_a_tab_is_refused(raw: str) -> None:
    assert check_value("name", raw, rules=IMS)[1] is not None


def test_description_of_1024_characters_is_accepted_and_1025_refused() -> None:
    assert check_value("__description", "d" * 1024, rules=IMS)[1] is None
    assert check_value("__description", "d" * 1025, rules=IMS)[1] is not None


def test_description_may_be_empty_and_hold_a_tab_but_no_line_break() -> None:
    assert check_value("__description", "", rules=IMS) == ("", None)
    assert check_value("__description", "a\tb", rules=IMS) == ("a\tb", None)
    error = check_value("__description", "a\nb", rules=IMS)[1]
    assert error is not None
    assert "U+000A" in error


@pytest.mark.parametrize("raw", ["a\x00b", "a\x1bb", "a\x7fb", "a\rb", "\ud800"])
def test_extension_value_with_a_control_character_or_surrogate_is_refused(raw: str) -> None:
    assert check_value("my_tag", raw, rules=IMS)[1] is not None


def test_gpu_type_and_extension_values_are_free_text_kept_as_is() -> None:
    assert check_value("__support_kvm_gpu_type", "V100;A100", rules=IMS) == ("V100;A100", None)
    assert check_value("owner_team", "  0001 中文 ", rules=IMS) == ("  0001 中文 ", None)
