"""The IMS HTTP client: one session per run, signed requests, capped bodies, no redirects."""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
DEFAULT_BODY_CAP = 1 << 20  # answers larger than 1 MiB are cut before parsing


class Authenticator(Protocol):
    """What the client needs from an auth provider (see batch_ims.auth)."""

    async def headers(
        self, method: str, url: URL, body: bytes, base: dict[str, str]
    ) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    body: bytes
    request_id: str
    retry_after: str | None
    date: str | None
    content_type: str | None


class TransportError(Exception):
    """No answer: `kind` is the report's error code (timeout, connection_error, tls_error)."""

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


def make_session(
    *, concurrency: int, ssl_context: ssl.SSLContext, timeout_s: float
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=concurrency, ssl=ssl_context, ttl_dns_cache=300
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=True,
        trust_env=False,
        raise_for_status=False,
    )


class ImsClient:
    """PATCH and GET of one image, each one attempt; retries are the runner's business."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: URL,
        auth: Authenticator,
        *,
        body_cap: int = DEFAULT_BODY_CAP,
    ) -> None:
        self._session = session
        self._base = endpoint
        self._images_prefix = str(endpoint / "v2" / "cloudimages") + "/"
        self._auth = auth
        self._body_cap = body_cap

    def _image_url(self, image_id: str) -> URL:
        if not _UUID.match(image_id):
            raise ValueError("image id is not a canonical lowercase UUID")
        return URL(self._images_prefix + image_id, encoded=True)

    async def patch_image(self, image_id: str, body: bytes) -> HttpResult:
        base = {"Content-Type": JSON_CONTENT_TYPE}
        return await self._send("PATCH", self._image_url(image_id), body, base)

    async def get_image(self, image_id: str) -> HttpResult:
        if not _UUID.match(image_id):
            raise ValueError("image id is not a canonical lowercase UUID")
        url = (self._base / "v2" / "cloudimages").with_query({"id": image_id})
        return await self._send("GET", url, b"", {"Content-Type": JSON_CONTENT_TYPE})

    async def _send(self, method: str, url: URL, body: bytes, base: dict[str, str]) -> HttpResult:
        headers = await self._auth.headers(method, url, body, base)
        try:
            async with self._session.request(
                method, url, data=body or None, headers=headers, allow_redirects=False
            ) as response:
                data = await read_capped(response, self._body_cap)
                return HttpResult(
                    status=response.status,
                    body=data,
                    request_id=response.headers.get("X-Request-Id", ""),
                    retry_after=response.headers.get("Retry-After"),
                    date=response.headers.get("Date"),
                    content_type=response.headers.get("Content-Type"),
                )
        except TimeoutError as exc:
            raise TransportError("timeout", "no answer within the timeout") from exc
        except aiohttp.ClientSSLError as exc:
            raise TransportError("tls_error", _short(exc)) from exc
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            raise TransportError("connection_error", _short(exc)) from exc


async def read_capped(response: aiohttp.ClientResponse, cap: int = DEFAULT_BODY_CAP) -> bytes:
    """The body, or its first `cap` bytes: whatever arrives beyond the cap is never held."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = await response.content.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."
