"""What every authentication mode of every cloud offers the run, and its token renewal timing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp
import yarl

from batch_ims.errors import BatchImsError
from batch_ims.transport.ratelimit import Clock as Clock  # one definition, re-exported

REFRESH_MARGIN_SECONDS = 600.0  # renew a token this long before expiry
RECENT_SECONDS = 60.0  # a token this fresh is not renewed again on a 401 "expired"
RENEWAL_BACKOFF_SECONDS = 60.0  # after a failed renewal, keep the old token this long


class AuthFailedError(BatchImsError):
    """IAM refused us, or could not be reached, before the run started: one line, no secrets.

    The runner treats it as a fatal authentication error (exit 3, nothing sent to IMS).
    """


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
        """Sign in / look up the project id. Raises AuthFailedError when IAM refuses."""
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
