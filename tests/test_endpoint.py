"""batch_ims.transport.endpoint: https only (plain http for loopback), region names to endpoints."""

from __future__ import annotations

import pytest
from yarl import URL

from batch_ims.clouds.huawei.ims import region_endpoint, resolve_endpoint
from batch_ims.errors import UsageError


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://ims.cn-north-4.myhuaweicloud.com", "https://ims.cn-north-4.myhuaweicloud.com"),
        ("https://ims.example.internal:8443/", "https://ims.example.internal:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.8.7:8080/", "http://127.9.8.7:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://localhost:8080", "http://localhost:8080"),
    ],
)
def test_endpoint_accepted(endpoint: str, expected: str) -> None:
    assert resolve_endpoint(endpoint, None) == URL(expected)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://ims.cn-north-4.myhuaweicloud.com",
        "http://10.0.0.5:8080",
        "http://localhost.example.com",
        "http://128.0.0.1",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(endpoint: str) -> None:
    with pytest.raises(UsageError, match="plain http"):
        resolve_endpoint(endpoint, None)


@pytest.mark.parametrize("endpoint", ["ftp://ims.example.com", "ims.example.com", "https://"])
def test_non_http_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(UsageError, match="not an http"):
        resolve_endpoint(endpoint, None)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://ak:sk@ims.example.com",
        "https://ims.example.com/?x=1",
        "https://ims.example.com/#frag",
    ],
)
def test_endpoint_with_credentials_query_or_fragment_is_refused(endpoint: str) -> None:
    with pytest.raises(UsageError, match="must not carry"):
        resolve_endpoint(endpoint, None)


def test_endpoint_wins_over_region() -> None:
    assert resolve_endpoint("https://ims.example.com", "cn-north-4") == URL(
        "https://ims.example.com"
    )


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("cn-north-4", "https://ims.cn-north-4.myhuaweicloud.com"),
        ("ap-southeast-1", "https://ims.ap-southeast-1.myhuaweicloud.com"),
        ("eu-west-101", "https://ims.eu-west-101.myhuaweicloud.eu"),
        ("eu-west-0", "https://ims.eu-west-0.myhuaweicloud.com"),
    ],
)
def test_region_maps_to_its_endpoint(region: str, expected: str) -> None:
    assert region_endpoint(region) == URL(expected)
    assert resolve_endpoint(None, region) == URL(expected)


@pytest.mark.parametrize("region", ["cn north 4", "cn-north-4.evil.com", "../x", "cn_north_4"])
def test_malformed_region_is_refused(region: str) -> None:
    with pytest.raises(UsageError, match="not a region name"):
        resolve_endpoint(None, region)


def test_neither_endpoint_nor_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no endpoint"):
        resolve_endpoint(None, None)


@pytest.mark.parametrize(
    "name",
    ["--endpoint", "HUAWEICLOUD_SDK_IAM_ENDPOINT", "--pushgateway"],
)
def test_an_endpoint_carrying_a_password_is_refused_without_echoing_it(name: str) -> None:
    from batch_ims.transport.endpoint import check_endpoint

    with pytest.raises(UsageError) as caught:
        check_endpoint("https://ops:s3cret-PW@iam.example.com", name=name, example="x")

    assert "user name or password" in str(caught.value)
    assert "s3cret-PW" not in str(caught.value)
    assert str(caught.value).startswith(name)


def test_an_iam_endpoint_with_userinfo_is_refused_before_anything_is_sent() -> None:
    from batch_ims.clouds.huawei import resolve_authenticator
    from batch_ims.errors import AuthConfigError

    env = {
        "HUAWEICLOUD_SDK_AK": "AK",
        "HUAWEICLOUD_SDK_SK": "SK",
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": "https://u:pw-XYZ@iam.example.com",
    }
    with pytest.raises(AuthConfigError) as caught:
        resolve_authenticator(env=env, profile=None, region="cn-north-4")

    assert "pw-XYZ" not in str(caught.value)
