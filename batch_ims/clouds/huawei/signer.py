"""AK/SK request signing (SDK-HMAC-SHA256), byte for byte as huaweicloudsdkcore's `Signer`.

The canonical request is::

    METHOD, canonical URI, canonical query, canonical headers (each line ending in "\\n"),
    signed headers, payload hash -- joined with "\\n"

and the signature is HMAC-SHA256(SK, "SDK-HMAC-SHA256\\n" + X-Sdk-Date + "\\n" + sha256(canonical)).

SDK quirks reproduced on purpose:

* Every header whose name has no "_" is signed; values are `str(value).strip()`.
* The signed value is the UTF-8 text. The SDK then hands `requests` the text decoded as latin-1 so
  that the wire carries its UTF-8 bytes; aiohttp writes header values as UTF-8 itself, so the
  headers returned here hold the plain text and the wire bytes come out the same.
* A `Content-Type` (that exact key) other than JSON or BSON adds `X-Sdk-Content-Sha256:
  UNSIGNED-PAYLOAD`, and that header's value then stands in for the payload hash.
* `%2F` in the path is unquoted before the path is split, so it signs as a "/" separator.

`verify` is the server side, used by the emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote, unquote

import yarl

__all__ = [
    "ALGORITHM",
    "SDK_DATE_FORMAT",
    "RequestSigner",
    "Verdict",
    "authorization",
    "host_header",
    "sdk_date",
    "sign_headers",
    "verify",
]

SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
ALGORITHM = "SDK-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

_EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_DATE = "x-sdk-date"
_CONTENT_SHA = "x-sdk-content-sha256"
# Characters quote(safe="~") leaves alone: a string made only of them needs no quoting.
_PLAIN = re.compile(r"[A-Za-z0-9_.~\-]*").fullmatch
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.~\-/]*").fullmatch
_AUTH_RE = re.compile(
    rf"{ALGORITHM} Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<names>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]{64})"
)

QueryValue = str | int | bool | Sequence[str]
Query = Sequence[tuple[str, QueryValue]] | Mapping[str, QueryValue]


def sdk_date(now: datetime | float | None = None) -> str:
    """`now` (default: the current time; a datetime, naive meaning UTC, or epoch seconds) as
    an X-Sdk-Date value, in UTC."""
    if now is None:
        return _date_of_second(int(time.time()))
    if isinstance(now, float | int):
        return _date_of_second(int(now))
    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    return now.strftime(SDK_DATE_FORMAT)


@lru_cache(maxsize=2)
def _date_of_second(second: int) -> str:
    return time.strftime(SDK_DATE_FORMAT, time.gmtime(second))


def host_header(url: yarl.URL) -> str:
    """The Host header aiohttp sends for `url`: with the port unless it is the scheme's default."""
    host = url.host_port_subcomponent
    if host is None:
        raise ValueError("a signed request needs an absolute URL")
    return host


def sign_headers(
    *,
    ak: str,
    sk: str,
    method: str,
    url: yarl.URL,
    body: bytes,
    headers: Mapping[str, str],
    date: str | None = None,
) -> dict[str, str]:
    """A new dict: `headers` (stripped) plus Host, X-Sdk-Date and Authorization.

    Every header given is signed, so pass exactly the ones to sign (Content-Type, X-Project-Id,
    X-Security-Token). Raises ValueError for an empty AK/SK or a malformed X-Sdk-Date.
    """
    out = {name: str(value).strip() for name, value in headers.items()}
    has_host = has_date = False
    for name in out:
        low = name.lower()
        has_host = has_host or low == "host"
        has_date = has_date or low == _DATE
    if not has_host:
        out["Host"] = host_header(url)
    if not has_date:
        out["X-Sdk-Date"] = date if date is not None else sdk_date()
    content_type = out.get("Content-Type")
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        out["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
    out["Authorization"] = authorization(
        ak=ak,
        sk=sk,
        method=method,
        path=url.raw_path,
        query=list(url.query.items()),
        headers=out,
        body=body,
    )
    return out


@dataclass(frozen=True, slots=True)
class _Template:
    """What every request of one kind (method, host, headers) shares."""

    method: str  # upper case
    before_date: str  # "\n\n" (no query) and the canonical header lines sorting before the date
    after_date: str  # the lines after it, the blank line, the signed names and "\n"
    headers: dict[str, str]  # stripped, Host added: the date and Authorization follow
    signed_names: str


class RequestSigner:
    """`sign_headers` with a run's constants worked out once: the key's bytes and, per kind of
    request (method, host, headers), the canonical header lines around the date.

    Only the common case takes the fast path: no query, a path of plain characters, no Host,
    X-Sdk-Date or X-Sdk-Content-Sha256 given, no header name with "_" or given twice, and no
    Content-Type or a JSON or BSON one. Anything else goes through `sign_headers`; both give
    the same headers, byte for byte (a property test checks it).
    """

    __slots__ = ("_ak", "_key", "_prefix", "_sk", "_templates")

    def __init__(self, *, ak: str, sk: str) -> None:
        self._ak = ak
        self._sk = sk
        self._key = sk.encode()
        self._prefix = f"{ALGORITHM} Access={ak}, SignedHeaders="
        self._templates: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Template | None] = {}

    def sign(
        self, method: str, url: yarl.URL, body: bytes, headers: Mapping[str, str], date: str
    ) -> dict[str, str]:
        """The headers to send, as `sign_headers(..., date=date)` gives them."""
        path = url.raw_path
        template = None
        if self._ak and self._key and not url.raw_query_string and _PLAIN_PATH(path):
            key = (method, url.raw_authority, tuple(headers.items()))
            try:
                template = self._templates[key]
            except KeyError:
                template = self._templates[key] = _template(method, url, headers)
        if template is None:
            return sign_headers(
                ak=self._ak,
                sk=self._sk,
                method=method,
                url=url,
                body=body,
                headers=headers,
                date=date,
            )
        uri = path if path.endswith("/") else path + "/"
        payload = hashlib.sha256(body).hexdigest() if body else _EMPTY_HASH
        canonical = (
            f"{template.method}\n{uri}{template.before_date}x-sdk-date:{date}\n"
            f"{template.after_date}{payload}"
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"{ALGORITHM}\n{_normalize_date(date)}\n{digest}"
        signature = hmac.digest(self._key, to_sign.encode(), "sha256").hex()
        out = template.headers.copy()
        out["X-Sdk-Date"] = date
        out["Authorization"] = f"{self._prefix}{template.signed_names}, Signature={signature}"
        return out


def _template(method: str, url: yarl.URL, headers: Mapping[str, str]) -> _Template | None:
    """The shared parts of a request of this kind, or None if it needs the general path."""
    out = {name: str(value).strip() for name, value in headers.items()}
    lowered = [name.lower() for name in out]
    if (
        len(set(lowered)) != len(lowered)
        or any("_" in name for name in lowered)
        or {"host", _DATE, _CONTENT_SHA} & set(lowered)
    ):
        return None
    content_type = out.get("Content-Type")
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        return None
    out["Host"] = host_header(url)
    values = {name.lower(): value for name, value in out.items()}
    names = sorted([*values, _DATE])
    at = names.index(_DATE)
    before = "".join(f"{name}:{values[name]}\n" for name in names[:at])
    after = "".join(f"{name}:{values[name]}\n" for name in names[at + 1 :])
    signed = ";".join(names)
    return _Template(
        method=method.upper(),
        before_date=f"\n\n{before}",
        after_date=f"{after}\n{signed}\n",
        headers=out,
        signed_names=signed,
    )


def authorization(
    *,
    ak: str,
    sk: str,
    method: str,
    path: str,
    query: Query,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """The Authorization value for a request whose headers already hold Host and X-Sdk-Date.

    `path` is the raw (percent-encoded) path as sent; `query` the decoded key/value pairs.
    """
    if not ak or not sk:
        raise ValueError("an access key and a secret key are required to sign")
    values: dict[str, str] = {}
    names: list[str] = []
    for name, value in headers.items():
        low = name.lower()
        values[low] = str(value).strip()
        if "_" not in name:
            names.append(low)
    names.sort()
    raw_date = values.get(_DATE)
    if raw_date is None:
        raise ValueError("X-Sdk-Date header is required to sign")
    canonical = _canonical_request(method, path, _canonical_query(query), names, values, body)
    signature = _signature(sk, _normalize_date(raw_date), canonical)
    return f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(names)}, Signature={signature}"


def _canonical_request(
    method: str,
    path: str,
    canonical_query: str,
    names: Sequence[str],
    values: Mapping[str, str],
    body: bytes,
) -> str:
    lines = "".join([f"{name}:{values[name]}\n" for name in names])
    return (
        f"{method.upper()}\n{_canonical_uri(path)}\n{canonical_query}\n"
        f"{lines}\n{';'.join(names)}\n{_payload_hash(body, values)}"
    )


def _signature(sk: str, date: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    to_sign = f"{ALGORITHM}\n{date}\n{digest}"
    return hmac.digest(sk.encode(), to_sign.encode(), "sha256").hex()


def _payload_hash(body: bytes, values: Mapping[str, str]) -> str:
    if not body:
        return _EMPTY_HASH
    # The SDK reads this header after re-encoding header values as latin-1 text.
    declared = values.get(_CONTENT_SHA)
    if declared:
        return declared.encode().decode("latin-1")
    return hashlib.sha256(body).hexdigest()


def _quote(text: str) -> str:
    return text if _PLAIN(text) else quote(text, safe="~")


def _canonical_uri(path: str) -> str:
    if _PLAIN_PATH(path):
        uri = path
    else:
        uri = "/".join([_quote(part) for part in unquote(path).split("/")])
    return uri if uri.endswith("/") else uri + "/"


def _query_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return _quote(str(value))


def _canonical_query(query: Query) -> str:
    if not query:
        return ""
    pairs: Iterable[tuple[str, QueryValue]] = query.items() if isinstance(query, Mapping) else query
    parts: list[str] = []
    for key, value in sorted(pairs):
        quoted = _quote(key)
        if isinstance(value, list | tuple):
            parts.extend(f"{quoted}={_query_text(v)}" for v in sorted(value))
        else:
            parts.append(f"{quoted}={_query_text(value)}")
    return "&".join(parts)


@lru_cache(maxsize=64)
def _normalize_date(raw: str) -> str:
    """What the SDK puts in the string to sign: the date parsed and formatted again."""
    return datetime.strptime(raw, SDK_DATE_FORMAT).strftime(SDK_DATE_FORMAT)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of `verify`; `reason` says what failed and never holds a secret."""

    ok: bool
    reason: str


_OK = Verdict(ok=True, reason="ok")


def verify(
    *,
    lookup_sk: Callable[[str], str | None],
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
    allow_unsigned_payload: bool = False,
) -> Verdict:
    """Check a signed request as the API gateway would.

    `raw_path` is the percent-encoded path as received (a "?query" suffix is ignored);
    `query` the decoded pairs; `now` the server's clock (naive means UTC).
    """
    values = {name.lower(): str(value).strip() for name, value in headers.items()}
    header = values.get("authorization")
    if not header:
        return Verdict(ok=False, reason="missing Authorization header")
    match = _AUTH_RE.fullmatch(header)
    if match is None:
        return Verdict(ok=False, reason="malformed Authorization header")
    names = match["names"].split(";")
    problem = _check_signed_names(names, values) or _check_date(values[_DATE], now, max_skew)
    if problem:
        return Verdict(ok=False, reason=problem)
    problem = _check_payload(body, names, values, allow_unsigned_payload=allow_unsigned_payload)
    if problem:
        return Verdict(ok=False, reason=problem)
    sk = lookup_sk(match["ak"])
    if not sk:
        return Verdict(ok=False, reason="unknown access key")
    path = raw_path.partition("?")[0]
    signed = {name: values[name] for name in names}  # an unsigned header must not count
    try:
        canonical = _canonical_request(method, path, _canonical_query(query), names, signed, body)
        expected = _signature(sk, _normalize_date(values[_DATE]), canonical)
    except UnicodeError:
        return Verdict(ok=False, reason="header value is not valid UTF-8")
    if not hmac.compare_digest(expected, match["sig"].lower()):
        return Verdict(ok=False, reason="signature mismatch")
    return _OK


def _check_signed_names(names: Sequence[str], values: Mapping[str, str]) -> str:
    for required in ("host", _DATE):
        if required not in names:
            return f"{required} is not among the signed headers"
    for name in names:
        if name not in values:
            return f"signed header {name[:64]!r} is missing from the request"
    return ""


def _check_date(raw: str, now: datetime, max_skew: timedelta) -> str:
    try:
        signed_at = datetime.strptime(raw, SDK_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return "malformed X-Sdk-Date"
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    skew = abs(now - signed_at)
    if skew > max_skew:
        return f"X-Sdk-Date is {int(skew.total_seconds())}s away from the server clock"
    return ""


def _check_payload(
    body: bytes, names: Sequence[str], values: Mapping[str, str], *, allow_unsigned_payload: bool
) -> str:
    if not body or _CONTENT_SHA not in names:
        return ""
    declared = values[_CONTENT_SHA]
    if declared == UNSIGNED_PAYLOAD:
        return "" if allow_unsigned_payload else "unsigned payload not accepted"
    if declared.lower() != hashlib.sha256(body).hexdigest():
        return "X-Sdk-Content-Sha256 does not match the body"
    return ""
