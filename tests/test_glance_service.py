"""batch_ims.clouds.openstack.glance: requests, image documents and Glance's real error bodies.

The error bodies are the ones a real Glance (33.x) answered, recorded by the OpenStack suite.
"""

from __future__ import annotations

import json

import pytest
from yarl import URL

from batch_ims.clouds.openstack.glance import PATCH_CONTENT_TYPE, GlanceService

IMAGE = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
CONFLICT_HTML = (
    b"<html>\n <head>\n  <title>409 Conflict</title>\n </head>\n <body>\n  <h1>409 Conflict</h1>\n"
    b"  There was a conflict when trying to complete your request.<br /><br />\n"
    b"Property no_such_property does not exist.\n\n\n </body>\n</html>"
)
READ_ONLY_JSON = json.dumps(
    {
        "message": "Attribute 'status' is read-only.<br /><br />\n\n\n",
        "code": "403 Forbidden",
        "title": "Forbidden",
    }
).encode()
READ_ONLY_HTML = (
    b"<html>\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n"
    b"  <h1>403 Forbidden</h1>\n"
    b"  Attribute &#x27;status&#x27; is read-only.<br /><br />\n\n\n\n </body>\n</html>"
)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9292", "http://127.0.0.1:9292/v2/"])
def test_patch_and_read_go_to_v2_images_with_the_json_patch_content_type(endpoint: str) -> None:
    service = GlanceService(URL(endpoint.rstrip("/")))

    patch, read = service.patch(IMAGE), service.read(IMAGE)

    assert (patch.method, str(patch.url)) == ("PATCH", f"http://127.0.0.1:9292/v2/images/{IMAGE}")
    assert patch.headers["Content-Type"] == PATCH_CONTENT_TYPE
    assert (read.method, str(read.url)) == ("GET", f"http://127.0.0.1:9292/v2/images/{IMAGE}")


def test_a_non_canonical_image_id_never_reaches_a_url() -> None:
    with pytest.raises(ValueError, match="canonical lowercase UUID"):
        GlanceService(URL("http://127.0.0.1:9292")).patch("../x")


def test_the_image_document_is_the_answer_itself() -> None:
    service = GlanceService(URL("http://127.0.0.1:9292"))

    assert service.parse_image(json.dumps({"id": IMAGE, "name": "n"}).encode()) == {
        "id": IMAGE,
        "name": "n",
    }
    assert service.parse_image(b"<html>") is None


@pytest.mark.parametrize(
    ("status", "body", "content_type", "message"),
    [
        (
            409,
            CONFLICT_HTML,
            "text/html; charset=UTF-8",
            "There was a conflict when trying to complete your request. "
            "Property no_such_property does not exist.",
        ),
        (403, READ_ONLY_JSON, "application/json", "Attribute 'status' is read-only."),
        (403, READ_ONLY_HTML, "text/html; charset=UTF-8", "Attribute 'status' is read-only."),
        (502, b"", None, "Bad Gateway"),
    ],
)
def test_glance_error_bodies_become_one_readable_message(
    status: int, body: bytes, content_type: str | None, message: str
) -> None:
    error = GlanceService(URL("http://127.0.0.1:9292")).parse_error(status, body, content_type)

    assert (error.code, error.message) == (f"HTTP_{status}", message)


def test_only_a_429_throttles_only_5xx_and_429_retry_only_a_401_is_an_auth_failure() -> None:
    service = GlanceService(URL("http://127.0.0.1:9292"))

    assert [service.is_throttle(s, "") for s in (429, 413, 503)] == [True, False, False]
    assert [service.is_retryable(s, "") for s in (429, 503, 409, 403)] == [
        True,
        True,
        False,
        False,
    ]
    assert [service.is_auth_failure(s, "") for s in (401, 403)] == [True, False]


def test_the_first_list_page_asks_with_the_filters_and_a_next_one_with_glances_own_query() -> None:
    service = GlanceService(URL("http://127.0.0.1/image"))
    link = f"/v2/images?status=active&limit=50&marker={IMAGE}"

    first = service.list_request({"status": "active"}, None, 50)
    page = service.parse_list(json.dumps({"images": [{"id": IMAGE}], "next": link}).encode())
    assert page is not None
    later = service.list_request({"status": "active"}, page.next, 50)

    assert str(first.url) == "http://127.0.0.1/image/v2/images?status=active&limit=50"
    # the link's query on our own URL: devstack's /image prefix kept, no other host possible
    assert (
        str(later.url) == f"http://127.0.0.1/image/v2/images?status=active&limit=50&marker={IMAGE}"
    )


def test_a_list_page_without_a_next_link_is_the_last() -> None:
    page = GlanceService(URL("http://127.0.0.1:9292")).parse_list(
        json.dumps({"images": [{"id": IMAGE}], "first": "/v2/images"}).encode()
    )

    assert page is not None
    assert page.next is None


def test_a_next_link_to_another_host_keeps_only_its_query() -> None:
    service = GlanceService(URL("http://127.0.0.1:9292"))
    body = {"images": [], "next": "https://evil.example.com/v2/images?marker=" + IMAGE}

    page = service.parse_list(json.dumps(body).encode())
    assert page is not None
    request = service.list_request({}, page.next, 10)

    assert str(request.url) == f"http://127.0.0.1:9292/v2/images?marker={IMAGE}"
