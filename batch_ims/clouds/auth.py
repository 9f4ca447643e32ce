"""What every authentication mode of every cloud offers the run, and its token renewal timing."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Protocol

import aiohttp
import yarl

from batch_ims.errors import BatchImsError, UnreachableError
from batch_ims.logsetup import redact_text
from batch_ims.transport.ratelimit import Clock as Clock  # one definition, re-exported

REFRESH_MARGIN_SECONDS = 600.0  # renew a token this long before expiry
RECENT_SECONDS = 60.0  # a token this fresh is not renewed again on a 401 "expired"
RENEWAL_BACKOFF_SECONDS = 60.0  # after a failed renewal, keep the old token this long


class AuthFailedError(BatchImsError):
    """The sign-in was refused before the run started: one line, no secrets.

    The runner treats it as a fatal authentication error (exit 3, nothing sent).
    """


class SignInUnreachableError(AuthFailedError, UnreachableError):
    """The sign-in endpoint gave no answer at all (DNS failure, connection refused, timeout).

    Not a verdict on the credentials: the runner reports every image as not sent and exits
    with the unreachable code (4), which schedulers retry. A renewal that fails this way is
    handled as any failed renewal (it is an AuthFailedError).
    """

    def __init__(self, *, service: str, url: str, reason: str, check: str) -> None:
        super().__init__(
            f"could not reach {service} at {url} ({reason}); check {check} and the network"
        )
        self.host = yarl.URL(url).host or url
        self.reason = reason


def unreachable(
    error: BaseException, *, service: str, url: str, check: str
) -> SignInUnreachableError:
    """The error for a sign-in request that got no answer, naming the OS reason."""
    return SignInUnreachableError(
        service=service, url=url, reason=network_reason(error), check=check
    )


def is_network_failure(error: BaseException) -> bool:
    """True when `error` or one of its causes is a failure to connect or to get an answer."""
    return any(isinstance(cause, (OSError, TimeoutError)) for cause in _causes(error))


def network_reason(error: BaseException) -> str:
    """Why no answer came, in the OS's words: the deepest cause that says it, else the text."""
    for cause in reversed(list(_causes(error))):
        reason = _os_reason(cause)
        if reason:
            return reason
    return _one_line(f"{type(error).__name__}: {error}")


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and the exceptions it was raised from or during, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _os_reason(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return f"DNS lookup failed: {error.strerror or error}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, ssl.SSLError):
        return _one_line(f"TLS: {error.reason or error}")
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return _one_line(error.strerror)
    return ""


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(redact_text(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Authenticator(Protocol):
    """One authentication mode. Built by `resolve_authenticator`, used by the runner.

    `prepare` is awaited once before the first request; `headers` is on the hot path.
    """

    @property
    def mode(self) -> str:
        """'aksk', 'temporary-aksk', 'token' or 'iam-password'."""
        ...

    @property
    def region(self) -> str | None:
        """The region in use (from --region, the endpoint or the profile), if known."""
        ...

    @property
    def project_id(self) -> str | None:
        """The project id sent or scoped to (known after `prepare` when it was looked up)."""
        ...

    async def prepare(self, session: aiohttp.ClientSession) -> None:
        """Sign in / look up the project id. Raises AuthFailedError when the sign-in is
        refused, SignInUnreachableError when its endpoint gives no answer."""
        ...

    async def headers(
        self, method: str, url: yarl.URL, body: bytes, base: Mapping[str, str]
    ) -> dict[str, str]:
        """`base` (the caller's own headers, e.g. Content-Type) plus the authentication headers."""
        ...

    async def on_unauthorized(self, code: str, message: str) -> bool:
        """After a 401: True when credentials were renewed and the request may be sent again."""
        ...

    def describe(self) -> str:
        """One line for logs and the summary, never a secret."""
        ...
