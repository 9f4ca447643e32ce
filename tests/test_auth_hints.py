"""Recognising authentication failures and the one-line hint about what to check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from batch_ims.clouds.huawei import clock_skew, failure_hint, is_auth_failure, says_token_expired

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "APIG.0301", True),
        (401, "APIGW.0301", True),
        (401, "APIG.0307", True),
        (401, "HTTP_401", True),  # a 401 is always about credentials
        (403, "APIG.0302", True),
        (403, "APIGW.0302", True),
        (403, "APIG.0306", True),
        (403, "IMG.0026", True),
        (403, "IMG.0030", True),
        (400, "IMG.0026", True),  # IMS documents these two with status 400
        (400, "IMG.0030", True),
        (403, "IMG.0019", False),  # read-only attribute: not an auth problem
        (403, "HTTP_403", False),
        (429, "APIG.0308", False),  # throttled
        (400, "IMG.0060", False),
        (404, "IMG.0027", False),
        (500, "IMG.0030", False),
        (403, "APIG.0101", False),
    ],
)
def test_is_auth_failure_table(status: int, code: str, expected: bool) -> None:
    assert is_auth_failure(status, code) is expected


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("APIG.0307", "The token must be updated.", True),
        ("APIGW.0307", "", True),
        (
            "APIG.0301",
            "Incorrect IAM authentication information: token expires, expires_at: x",
            True,
        ),
        (
            "APIG.0301",
            "Incorrect IAM authentication information: verify aksk signature fail",
            False,
        ),
        ("APIG.0301", "Incorrect IAM authentication information: decrypt token fail", False),
    ],
)
def test_says_token_expired(code: str, message: str, expected: bool) -> None:
    assert says_token_expired(code, message) is expected


def test_clock_skew_is_local_minus_server_in_seconds() -> None:
    assert clock_skew(http_date(NOW - timedelta(minutes=7)), NOW) == 420.0
    assert clock_skew(http_date(NOW + timedelta(seconds=30)), NOW) == -30.0


@pytest.mark.parametrize("value", [None, "", "yesterday", "Sat, 01 Mar 2025 12:00:00"])
def test_clock_skew_is_unknown_without_a_usable_date(value: str | None) -> None:
    assert clock_skew(value, NOW) is None


def test_hint_for_a_bad_signature_names_keys_project_region_and_clock() -> None:
    hint = failure_hint(
        code="APIG.0301",
        message="Incorrect IAM authentication information: verify aksk signature fail",
        server_date=http_date(NOW - timedelta(seconds=2)),
        now=NOW,
        mode="aksk",
        region="cn-north-4",
        project_id="0a1b2c",
    )
    assert hint == (
        "authentication failed (APIG.0301: Incorrect IAM authentication information: verify "
        "aksk signature fail); likely cause: the secret key does not match the access key (or "
        "the request was altered); check HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (a matching, "
        "enabled pair; no stray spaces), project id 0a1b2c, region cn-north-4, the local clock; "
        "the local clock is within 2 s of the server's"
    )


def test_hint_reports_a_skew_over_five_minutes_as_the_likely_cause() -> None:
    hint = failure_hint(
        code="APIG.0301",
        message="Incorrect IAM authentication information: verify aksk signature fail",
        server_date=http_date(NOW - timedelta(minutes=17, seconds=5)),
        now=NOW,
        mode="temporary-aksk",
        region=None,
        project_id=None,
    )
    assert "likely cause: the local clock is 17 min 5 s ahead of the server's" in hint
    assert "HUAWEICLOUD_SDK_SECURITY_TOKEN" in hint
    assert "the project id, the region, the local clock" in hint


def test_hint_for_a_clock_behind_the_server() -> None:
    hint = failure_hint(
        code="APIG.0301",
        message="",
        server_date=http_date(NOW + timedelta(hours=2, minutes=1)),
        now=NOW,
        mode="aksk",
        region=None,
        project_id=None,
    )
    assert "likely cause: the local clock is 2 h 1 min behind the server's" in hint


def test_hint_without_a_server_date_says_nothing_about_skew() -> None:
    hint = failure_hint(
        code="APIG.0301",
        message="x",
        server_date=None,
        now=NOW,
        mode="aksk",
        region=None,
        project_id=None,
    )
    assert "within" not in hint
    assert "ahead" not in hint


def test_hint_for_permission_codes_points_at_iam_policies() -> None:
    for code in ("IMG.0026", "APIG.0302"):
        hint = failure_hint(
            code=code,
            message="The operator does not have the rights to perform the operation.",
            server_date=None,
            now=NOW,
            mode="iam-password",
            region="cn-north-4",
            project_id=None,
        )
        assert "likely cause: the credentials are valid but lack IMS permissions" in hint
        assert "BATCH_IMS_IAM_USER, BATCH_IMS_IAM_PASSWORD, BATCH_IMS_IAM_DOMAIN" in hint


def test_hint_for_project_mismatch_and_expired_token() -> None:
    mismatch = failure_hint(
        code="IMG.0030",
        message="The project ID and token in the request are invalid.",
        server_date=None,
        now=NOW,
        mode="token",
        region=None,
        project_id="p-1",
    )
    expired = failure_hint(
        code="APIG.0307",
        message="The token must be updated.",
        server_date=None,
        now=NOW,
        mode="token",
        region=None,
        project_id=None,
    )
    assert "likely cause: the project id does not belong" in mismatch
    assert "likely cause: the token has expired" in expired
    assert "BATCH_IMS_AUTH_TOKEN (tokens live 24 h" in expired


def test_token_mode_reports_a_large_skew_without_blaming_it() -> None:
    hint = failure_hint(
        code="APIG.0301",
        message="decrypt token fail",
        server_date=http_date(NOW - timedelta(minutes=10)),
        now=NOW,
        mode="token",
        region=None,
        project_id=None,
    )
    assert "likely cause: the token is invalid, expired or scoped to another project" in hint
    assert hint.endswith("; the local clock is 10 min 0 s ahead of the server's")


def test_hint_is_one_line_with_a_bounded_message() -> None:
    hint = failure_hint(
        code="HTTP_401",
        message="<html>\n" + "x" * 5000 + "\n</html>",
        server_date=None,
        now=NOW,
        mode="aksk",
        region=None,
        project_id=None,
    )
    assert "\n" not in hint
    assert len(hint) < 600
