"""Checks every endpoint URL passes: http(s) only, plain http only to loopback, no userinfo.

A URL carrying `user:password@` is refused without being echoed, so a password typed into
an endpoint never reaches a message or a log.
"""

from __future__ import annotations

import ipaddress

from yarl import URL

from batch_ims.errors import UsageError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(text: str, *, name: str, example: str, plain_http: bool = False) -> URL:
    """`text` as a base URL, or UsageError naming `name` (an option or variable).
    `plain_http`: the user consented to plain http to any host (else loopback only)."""
    try:
        url = URL(text.rstrip("/"))
        host = url.host
    except ValueError as exc:
        raise UsageError(f"{name}: not a valid URL ({exc})") from exc
    if url.user is not None or url.password is not None:
        raise UsageError(
            f"{name}: the URL must not carry a user name or password (user:password@host); "
            "give credentials the documented way"
        )
    shown = repr(text)
    if url.scheme not in ("http", "https") or not host:
        raise UsageError(f"{name} {shown} is not an http(s) URL; expected e.g. {example}")
    if url.scheme == "http" and not (plain_http or is_loopback(host)):
        raise UsageError(
            f"{name} {shown} uses plain http to a non-loopback host; "
            "use https (plain http is only allowed for 127.0.0.1, ::1 or localhost)"
        )
    if url.query_string or url.fragment:
        raise UsageError(f"{name} {shown} must not carry credentials, a query or a fragment")
    return url
