"""Where requests go: an explicit endpoint or one derived from the region, safely."""

from __future__ import annotations

import ipaddress

from yarl import URL

from batch_ims.errors import UsageError

_EU_REGIONS = frozenset({"eu-west-101"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def region_endpoint(region: str) -> URL:
    """`https://ims.{region}.myhuaweicloud.com` (`.eu` for the EU regions)."""
    domain = "myhuaweicloud.eu" if region in _EU_REGIONS else "myhuaweicloud.com"
    return URL(f"https://ims.{region}.{domain}")


def resolve_endpoint(endpoint: str | None, region: str | None) -> URL:
    """The IMS base URL. Plain http is refused unless the host is loopback."""
    if endpoint:
        try:
            url = URL(endpoint.rstrip("/"))
            host = url.host
        except ValueError as exc:
            raise UsageError(f"--endpoint {endpoint!r} is not a valid URL ({exc})") from exc
        if url.scheme not in ("http", "https") or not host:
            raise UsageError(
                f"--endpoint {endpoint!r} is not an http(s) URL; expected e.g. "
                "https://ims.cn-north-4.myhuaweicloud.com"
            )
        if url.scheme == "http" and not is_loopback(host):
            raise UsageError(
                f"--endpoint {endpoint!r} uses plain http to a non-loopback host; "
                "use https (plain http is only allowed for 127.0.0.1, ::1 or localhost)"
            )
        if url.query_string or url.fragment or url.user or url.password:
            raise UsageError(
                f"--endpoint {endpoint!r} must not carry credentials, a query or a fragment"
            )
        return url
    if region:
        if not region.replace("-", "").isalnum():
            raise UsageError(f"--region {region!r} is not a region name such as cn-north-4")
        return region_endpoint(region)
    raise UsageError("no endpoint: give --endpoint URL or --region NAME (e.g. cn-north-4)")
