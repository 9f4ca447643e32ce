"""What every authentication mode offers the runner, and the names of the variables it reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp
import yarl

from batch_ims.errors import BatchImsError
from batch_ims.transport.ratelimit import Clock as Clock  # one definition, re-exported

ENV_AUTH_TOKEN = "BATCH_IMS_AUTH_TOKEN"  # noqa: S105 - a variable name
ENV_IAM_USER = "BATCH_IMS_IAM_USER"
ENV_IAM_PASSWORD = "BATCH_IMS_IAM_PASSWORD"  # noqa: S105 - a variable name, not a password
ENV_IAM_DOMAIN = "BATCH_IMS_IAM_DOMAIN"
ENV_AK = "HUAWEICLOUD_SDK_AK"
ENV_SK = "HUAWEICLOUD_SDK_SK"
ENV_SECURITY_TOKEN = "HUAWEICLOUD_SDK_SECURITY_TOKEN"  # noqa: S105 - a variable name
ENV_PROJECT_ID = "HUAWEICLOUD_SDK_PROJECT_ID"
ENV_IAM_ENDPOINT = "HUAWEICLOUD_SDK_IAM_ENDPOINT"
ENV_CREDENTIALS_FILE = "HUAWEICLOUD_SDK_CREDENTIALS_FILE"

DEFAULT_IAM_ENDPOINT = yarl.URL("https://iam.myhuaweicloud.com")

MODE_AKSK = "aksk"
MODE_TEMPORARY_AKSK = "temporary-aksk"
MODE_TOKEN = "token"  # noqa: S105 - a mode name
MODE_IAM_PASSWORD = "iam-password"  # noqa: S105 - a mode name

SIGNING_MODES = frozenset({MODE_AKSK, MODE_TEMPORARY_AKSK})


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


def mask_key(ak: str) -> str:
    """Enough of an access key to tell two apart in a log, not the whole of it."""
    return ak[:4] + "…" if len(ak) > 8 else "…"
