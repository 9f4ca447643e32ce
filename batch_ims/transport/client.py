"""One HTTP session per run; one request at a time, signed, capped, never redirected.

The client knows no image service and no run: it is handed a `Request` (built by a service
module) and a body, asks the authenticator for headers, and returns the answer or raises
`TransportError` when there was none. Retries are `exchange`'s business.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from batch_ims.redaction import clip, redact_text

DEFAULT_BODY_CAP = 1 << 20  # answers larger than 1 MiB are cut before parsing
OUT_OF_DESCRIPTORS = "out_of_descriptors"  # this machine's fault, not the endpoint's
_DESCRIPTOR_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})

# (method, url, body, the request's own headers) -> those headers plus authentication
AuthHeaders = Callable[[str, URL, bytes, Mapping[str, str]], Awaitable[dict[str, str]]]


@dataclass(frozen=True, slots=True)
class Request:
    """What to send, as a service module describes it (the body is passed separately)."""

    method: str
    url: URL
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    body: bytes
    request_id: str
    retry_after: str | None
    date: str | None
    content_type: str | None


class TransportError(Exception):
    """No answer: `kind` is the report's error code (timeout, connection_error, tls_error,
    out_of_descriptors)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def make_ssl_context(*, ca_bundle: str | None, insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def tls_setting(*, ca_bundle: str | None, insecure: bool) -> ssl.SSLContext | bool:
    """What the connector verifies: a context of its own only for a CA bundle; otherwise
    aiohttp's shared contexts (True: the system's CAs and host names checked, as
    `ssl.create_default_context()` does; False: nothing checked), which aiohttp builds once
    at import, so a run does not load the system's CA store a second time."""
    if ca_bundle is not None:
        return make_ssl_context(ca_bundle=ca_bundle, insecure=insecure)
    return not insecure


def make_session(
    *, concurrency: int, tls: ssl.SSLContext | bool, timeout_s: float
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=concurrency, ssl=tls, ttl_dns_cache=300
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=True,
        trust_env=False,
        raise_for_status=False,
    )


class HttpClient:
    """Sends one request: authentication headers added, the answer read up to the cap."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_headers: AuthHeaders,
        *,
        body_cap: int = DEFAULT_BODY_CAP,
        request_id_header: str = "X-Request-Id",
    ) -> None:
        self._session = session
        self._auth_headers = auth_headers
        self._body_cap = body_cap
        self._request_id_header = request_id_header

    async def send(self, request: Request, body: bytes = b"") -> HttpResult:
        headers = await self._auth_headers(request.method, request.url, body, request.headers)
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=body or None,
                headers=headers,
                allow_redirects=False,
            ) as response:
                data = await read_capped(response, self._body_cap)
                return HttpResult(
                    status=response.status,
                    body=data,
                    request_id=response.headers.get(self._request_id_header, ""),
                    retry_after=response.headers.get("Retry-After"),
                    date=response.headers.get("Date"),
                    content_type=response.headers.get("Content-Type"),
                )
        except TimeoutError as exc:
            raise TransportError("timeout", "no answer within the timeout") from exc
        except aiohttp.ClientSSLError as exc:
            raise TransportError("tls_error", _short(exc)) from exc
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            kind = OUT_OF_DESCRIPTORS if _out_of_descriptors(exc) else "connection_error"
            raise TransportError(kind, _short(exc)) from exc


async def read_capped(response: aiohttp.ClientResponse, cap: int = DEFAULT_BODY_CAP) -> bytes:
    """The body, or its first `cap` bytes: whatever arrives beyond the cap is never held."""
    chunks: list[bytes] = []
    size = 0
    content = response.content
    while size < cap:
        chunk = await content.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if content.at_eof():  # all of it read: no further wait for the end
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _out_of_descriptors(exc: BaseException) -> bool:
    """The process (EMFILE) or the system (ENFILE) has no file descriptor left: aiohttp
    wraps the socket's OSError, so its causes are looked at too."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in _DESCRIPTOR_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _short(exc: BaseException) -> str:
    return clip(redact_text(f"{type(exc).__name__}: {exc}").replace("\n", " "), 200)
