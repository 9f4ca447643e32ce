"""batch_ims.clouds.huawei.errors: every error-body shape Huawei Cloud answers with."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_ims.clouds.huawei.errors import ApiError, parse_error

SHAPES = {
    "ims_nested_error": (
        {"error": {"code": "IMG.0027", "message": "The image does not exist."}},
        ApiError("IMG.0027", "The image does not exist."),
    ),
    "api_gateway_flat": (
        {"error_code": "APIG.0308", "error_msg": "The request is throttled.", "request_id": "r1"},
        ApiError("APIG.0308", "The request is throttled."),
    ),
    "camel_case_flat": (
        {"errorCode": "VPC.0101", "errorMsg": "Invalid parameter"},
        ApiError("VPC.0101", "Invalid parameter"),
    ),
    "code_message_flat": (
        {"code": "IMG.0060", "message": "Flow control, please try again later."},
        ApiError("IMG.0060", "Flow control, please try again later."),
    ),
    "gateway_shape_in_error_wrapper": (
        {"error": {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication"}},
        ApiError("APIGW.0301", "Incorrect IAM authentication"),
    ),
    "camel_shape_in_any_wrapper": (
        {"result": {"errorCode": "ECS.0001", "errorMsg": "wrapped"}},
        ApiError("ECS.0001", "wrapped"),
    ),
    "two_levels_deep": (
        {"a": {"b": {"code": "X.1", "message": "deep"}}},
        ApiError("X.1", "deep"),
    ),
    "keystone_integer_code": (
        {"error": {"code": 401, "message": "Authentication required", "title": "Unauthorized"}},
        ApiError("401", "Authentication required"),
    ),
    "iam_error_with_an_encoded_authorization_message": (
        {
            "error_code": "IAM.0002",
            "error_msg": "no permission",
            "encoded_authorization_message": "e",
        },
        ApiError("IAM.0002", "no permission"),
    ),
    "gateway_pair_wins_over_code_pair_as_in_sdk": (
        {"code": "C", "message": "m", "error_code": "APIG.1", "error_msg": "g"},
        ApiError("APIG.1", "g"),
    ),
    "top_level_code_wins_over_nested": (
        {"error_code": "TOP", "error_msg": "t", "error": {"code": "NESTED", "message": "n"}},
        ApiError("TOP", "t"),
    ),
    "code_without_message": ({"error_code": "APIG.0201"}, ApiError("APIG.0201", "")),
    "message_without_code": ({"message": "Internal error"}, ApiError("HTTP_500", "Internal error")),
    "non_string_message_kept_as_json": (
        {"code": "E", "message": {"detail": ["a", "b"]}},
        ApiError("E", '{"detail":["a","b"]}'),
    ),
    "empty_code_falls_back_to_status": (
        {"error_code": "", "error_msg": "empty code"},
        ApiError("HTTP_500", "empty code"),
    ),
    "non_ascii_message": (
        {"error": {"code": "IMG.0046", "message": "镜像状态不是 active"}},
        ApiError("IMG.0046", "镜像状态不是 active"),
    ),
}


@pytest.mark.parametrize(("document", "expected"), SHAPES.values(), ids=SHAPES.keys())
def test_parse_error_reads_code_and_message_of_each_shape(
    document: dict[str, object], expected: ApiError
) -> None:
    body = json.dumps(document, ensure_ascii=False).encode()

    assert parse_error(500, body, "application/json") == expected


def test_parse_error_takes_title_of_html_502_from_proxy() -> None:
    body = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )

    assert parse_error(502, body, "text/html") == ApiError("HTTP_502", "502 Bad Gateway")


def test_parse_error_strips_tags_scripts_and_whitespace_of_html_without_title() -> None:
    body = b"<html><style>p {color: red}</style><body><p>Upstream\n\n  timed   out</p></body>"

    assert parse_error(504, body) == ApiError("HTTP_504", "Upstream timed out")


def test_parse_error_gives_status_phrase_for_empty_body() -> None:
    assert parse_error(503, b"") == ApiError("HTTP_503", "Service Unavailable")


def test_parse_error_gives_empty_message_for_empty_body_with_unknown_status() -> None:
    assert parse_error(599, b"  \n") == ApiError("HTTP_599", "")


def test_parse_error_replaces_invalid_utf8_in_plain_text() -> None:
    assert parse_error(500, b"bad \xff\xfe bytes") == ApiError("HTTP_500", "bad \ufffd\ufffd bytes")


def test_parse_error_reads_json_holding_invalid_utf8() -> None:
    body = b'{"error_code": "APIG.1000", "error_msg": "bad \xff byte"}'

    assert parse_error(400, body) == ApiError("APIG.1000", "bad \ufffd byte")


def test_parse_error_reads_json_with_utf8_bom() -> None:
    body = b'\xef\xbb\xbf {"error": {"code": "IMG.0027", "message": "m"}}'

    assert parse_error(404, body) == ApiError("IMG.0027", "m")


def test_parse_error_decodes_text_with_charset_from_content_type() -> None:
    body = "服务 暂不可用".encode("gb18030")

    assert parse_error(503, body, "text/plain; charset=GB18030") == ApiError(
        "HTTP_503", "服务 暂不可用"
    )


def test_parse_error_falls_back_to_utf8_for_unknown_or_non_text_charset() -> None:
    bodies = [parse_error(500, b"ok", f"text/plain; charset={cs}") for cs in ("nope", "rot13")]

    assert bodies == [ApiError("HTTP_500", "ok"), ApiError("HTTP_500", "ok")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"code": "X", "message": "in array"}]', '[{"code": "X", "message": "in array"}]'),
        (b'"just a string"', '"just a string"'),
        (b"null", "null"),
        (b'{"error_code": "APIG', '{"error_code": "APIG'),
        (b'{"data": {"id": 1}}', '{"data": {"id": 1}}'),
    ],
    ids=["json_array", "json_string", "json_null", "truncated_json", "json_without_code"],
)
def test_parse_error_gives_http_status_code_and_text_for_json_without_code(
    body: bytes, message: str
) -> None:
    assert parse_error(500, body, "application/json") == ApiError("HTTP_500", message)


def test_parse_error_cuts_huge_body_to_a_short_collapsed_excerpt() -> None:
    body = b"Gateway   error\n" * 500_000

    error = parse_error(502, body)

    assert (error.code, len(error.message), error.message[:30]) == (
        "HTTP_502",
        200,
        "Gateway error Gateway error Ga",
    )


def test_parse_error_survives_deeply_nested_json() -> None:
    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000

    assert parse_error(500, body).code == "HTTP_500"


def test_parse_error_caps_very_long_api_message() -> None:
    body = json.dumps({"error_code": "E", "error_msg": "m" * 5000}).encode()

    assert len(parse_error(400, body).message) == 1000


@given(status=st.integers(100, 599), body=st.binary(max_size=300), content_type=st.text())
def test_parse_error_never_raises_and_always_has_a_code(
    status: int, body: bytes, content_type: str
) -> None:
    assert parse_error(status, body, content_type).code != ""
