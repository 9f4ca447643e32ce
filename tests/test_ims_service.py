"""batch_ims.clouds.huawei.ims.ImsService: its requests, image documents, throttles and retries."""

from __future__ import annotations

import json

import pytest
from yarl import URL

from batch_ims.clouds.huawei.ims import ImsService

ENDPOINT = URL("https://ims.cn-north-4.myhuaweicloud.com")
IMAGE_ID = "4f5a3d2e-1b0c-4a9e-8d7f-6c5b4a392817"
SERVICE = ImsService(ENDPOINT)


# --- requests ------------------------------------------------------------------------------


def test_patch_request_targets_the_image_under_v2_cloudimages() -> None:
    request = SERVICE.patch(IMAGE_ID)

    assert (request.method, str(request.url)) == (
        "PATCH",
        f"https://ims.cn-north-4.myhuaweicloud.com/v2/cloudimages/{IMAGE_ID}",
    )
    assert request.headers == {"Content-Type": "application/json;charset=UTF-8"}


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://gw.example.com/ims", "https://gw.example.com/ims/v2/cloudimages/"),
        ("https://gw.example.com/ims/", "https://gw.example.com/ims/v2/cloudimages/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v2/cloudimages/"),
    ],
)
def test_patch_url_keeps_the_endpoints_own_path_and_port(endpoint: str, expected: str) -> None:
    url = ImsService(URL(endpoint)).patch(IMAGE_ID).url

    assert str(url) == expected + IMAGE_ID
    assert url == URL(expected + IMAGE_ID)


def test_read_request_lists_cloudimages_filtered_by_id() -> None:
    request = SERVICE.read(IMAGE_ID)

    assert (request.method, str(request.url)) == (
        "GET",
        f"https://ims.cn-north-4.myhuaweicloud.com/v2/cloudimages?id={IMAGE_ID}",
    )


@pytest.mark.parametrize(
    "image_id",
    [IMAGE_ID.upper(), "../" + IMAGE_ID, IMAGE_ID + "?x=1", "", "not-a-uuid"],
)
def test_non_canonical_image_id_never_reaches_a_url(image_id: str) -> None:
    with pytest.raises(ValueError, match="UUID"):
        SERVICE.patch(image_id)
    with pytest.raises(ValueError, match="UUID"):
        SERVICE.read(image_id)


# --- parse_image ---------------------------------------------------------------------------


def test_parse_image_reads_a_patch_answer() -> None:
    assert SERVICE.parse_image(b'{"id": "abc", "name": "x"}') == {"id": "abc", "name": "x"}


def test_parse_image_reads_the_first_image_of_a_list_answer() -> None:
    body = b'{"images": [{"id": "abc", "min_disk": 40}, {"id": "def"}]}'

    assert SERVICE.parse_image(body) == {"id": "abc", "min_disk": 40}


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"images": []}', b'{"images": ["x"]}', b'{"name": "no id"}', b"[1]", b"\xff"],
)
def test_parse_image_of_anything_else_is_none(body: bytes) -> None:
    assert SERVICE.parse_image(body) is None


# --- is_throttle / is_retryable ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, ""), (429, "APIG.0308"), (500, ""), (502, ""), (503, ""), (504, ""), (400, "IMG.0060")],
)
def test_retryable_statuses(status: int, code: str) -> None:
    assert SERVICE.is_retryable(status, code) is True


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "IMG.0001"), (400, ""), (401, ""), (403, ""), (404, "IMG.0027"), (409, ""), (200, "")],
)
def test_not_retryable_statuses(status: int, code: str) -> None:
    assert SERVICE.is_retryable(status, code) is False


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "", True),
        (400, "IMG.0060", True),
        (400, "IMG.0001", False),
        (503, "", False),
        (500, "IMG.0060", False),
    ],
)
def test_throttle_is_429_or_ims_flow_control(status: int, code: str, expected: bool) -> None:
    assert SERVICE.is_throttle(status, code) is expected


# --- parse_error / is_auth_failure ---------------------------------------------------------


def test_parse_error_reads_the_ims_error_document() -> None:
    body = b'{"error": {"code": "IMG.0060", "message": "flow control"}}'

    error = SERVICE.parse_error(400, body, "application/json")

    assert (error.code, error.message) == ("IMG.0060", "flow control")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "", True),
        (401, "APIG.0301", True),
        (403, "APIG.0302", True),
        (400, "IMG.0026", True),
        (400, "IMG.0030", True),
        (403, "IMG.0001", False),
        (404, "IMG.0027", False),
        (429, "", False),
    ],
)
def test_auth_failure_is_any_401_or_a_credentials_code(
    status: int, code: str, expected: bool
) -> None:
    assert SERVICE.is_auth_failure(status, code) is expected


def test_list_request_sends_the_filters_limit_and_the_marker_of_the_page_before() -> None:
    service = ImsService(URL("https://ims.example.com"))

    first = service.list_request({"__imagetype": "private", "name": "web 01"}, None, 200)
    later = service.list_request({"__imagetype": "private"}, IMAGE_ID, 200)

    assert str(first.url) == (
        "https://ims.example.com/v2/cloudimages?__imagetype=private&name=web+01&limit=200"
    )
    assert later.url.query["marker"] == IMAGE_ID
    assert first.method == "GET"


def test_a_list_page_goes_on_after_its_last_image_and_an_empty_page_is_the_end() -> None:
    service = ImsService(URL("https://ims.example.com"))
    other = "1b8e7d2f-3c4a-4e5f-9a61-829304b5c6d2"

    page = service.parse_list(json.dumps({"images": [{"id": other}, {"id": IMAGE_ID}]}).encode())
    end = service.parse_list(b'{"images": []}')

    assert page is not None
    assert ([i["id"] for i in page.images], page.next) == ([other, IMAGE_ID], IMAGE_ID)
    assert end is not None
    assert (end.images, end.next) == ([], None)


@pytest.mark.parametrize(
    "body", [b"<html>", b'{"images": {}}', b'{"images": [{"id": "../x"}]}', b"[]"]
)
def test_a_list_answer_that_is_no_page_of_images_is_none(body: bytes) -> None:
    assert ImsService(URL("https://ims.example.com")).parse_list(body) is None
