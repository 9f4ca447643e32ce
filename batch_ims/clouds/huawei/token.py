"""Token authentication: a given token, or one obtained (and renewed) by IAM password sign-in."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import structlog
import yarl

from batch_ims.clouds.auth import (
    RECENT_SECONDS,
    REFRESH_MARGIN_SECONDS,
    RENEWAL_BACKOFF_SECONDS,
    AuthFailedError,
    Clock,
)
from batch_ims.clouds.huawei.hints import says_token_expired
from batch_ims.clouds.huawei.iam import IamToken, PasswordIdentity, sign_in
from batch_ims.clouds.huawei.names import ENV_AUTH_TOKEN, MODE_IAM_PASSWORD, MODE_TOKEN

log = structlog.get_logger()


class StaticTokenAuthenticator:
    """`X-Auth-Token` from `BATCH_IMS_AUTH_TOKEN`; nothing signed, nothing renewed."""

    __slots__ = ("_project_id", "_region", "_token")

    mode = MODE_TOKEN

    def __init__(self, *, token: str, project_id: str | None, region: str | None) -> None:
        self._token = token
        self._project_id = project_id
        self._region = region

    @property
    def region(self) -> str | None:
        return self._region

    @property
    def project_id(self) -> str | None:
        return self._project_id

    async def prepare(self, session: aiohttp.ClientSession) -> None:
        return None

    async def headers(
        self, method: str, url: yarl.URL, body: bytes, base: Mapping[str, str]
    ) -> dict[str, str]:
        return {**base, "X-Auth-Token": self._token}

    async def on_unauthorized(self, code: str, message: str) -> bool:
        return False

    def describe(self) -> str:
        project = f", project {self._project_id}" if self._project_id else ""
        region = f", region {self._region}" if self._region else ""
        return f"token from {ENV_AUTH_TOKEN}{project}{region}"

    def __repr__(self) -> str:
        return f"<StaticTokenAuthenticator {self.describe()}>"


class IamPasswordAuthenticator:
    """A project-scoped token from IAM password sign-in, fetched once in `prepare` and renewed
    `REFRESH_MARGIN_SECONDS` before it expires (half its life for short-lived tokens), or when the
    API says it has expired. Concurrent callers share one renewal. Only `prepare` raises
    AuthFailedError; a failed renewal later is logged and left to the API's 401s."""

    __slots__ = (
        "_clock",
        "_endpoint",
        "_identity",
        "_lock",
        "_project_id",
        "_region",
        "_retry_at",
        "_session",
        "_sign_ins",
        "_token",
    )

    mode = MODE_IAM_PASSWORD

    def __init__(
        self,
        *,
        identity: PasswordIdentity,
        project_id: str | None,
        region: str | None,
        iam_endpoint: yarl.URL,
        clock: Clock,
    ) -> None:
        self._identity = identity
        self._project_id = project_id
        self._region = region
        self._endpoint = iam_endpoint
        self._clock = clock
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._token: IamToken | None = None
        self._sign_ins = 0
        self._retry_at = 0.0

    @property
    def region(self) -> str | None:
        return self._region

    @property
    def project_id(self) -> str | None:
        return self._project_id

    @property
    def sign_ins(self) -> int:
        """How many tokens were fetched so far (for the summary and tests)."""
        return self._sign_ins

    async def prepare(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        async with self._lock:
            if self._token is None:
                await self._fetch(reason="start")

    async def _fetch(self, *, reason: str) -> IamToken:
        if self._session is None:
            raise RuntimeError("IamPasswordAuthenticator.prepare() was not awaited")
        token = await sign_in(
            self._session,
            endpoint=self._endpoint,
            identity=self._identity,
            project_id=self._project_id,
            region=self._region,
            clock=self._clock,
        )
        self._token = token
        self._sign_ins += 1
        self._project_id = token.project_id or self._project_id
        log.info(
            "auth.token_obtained",
            reason=reason,
            project_id=self._project_id,
            expires_in_s=round(token.expires_at - token.fetched_at),
        )
        return token

    def _refresh_at(self, token: IamToken) -> float:
        margin = min(REFRESH_MARGIN_SECONDS, (token.expires_at - token.fetched_at) / 2)
        return token.expires_at - margin

    async def _current(self) -> IamToken:
        token = self._token
        now = self._clock()
        if token is not None and (now < self._refresh_at(token) or now < self._retry_at):
            return token
        async with self._lock:
            current = self._token
            if current is None:
                return await self._fetch(reason="start")
            if current is not token or self._clock() < self._retry_at:
                return current  # another caller renewed it, or just failed to, while we waited
            return await self._renew_or_keep(current)

    async def _renew_or_keep(self, token: IamToken) -> IamToken:
        """A new token; when IAM fails, the old one (the API's 401s then stop the run) and no
        new attempt for `RENEWAL_BACKOFF_SECONDS`, so IAM is not asked once per request."""
        try:
            return await self._fetch(reason="expiring")
        except AuthFailedError as error:
            self._renewal_failed(error)
            return token

    def _renewal_failed(self, error: AuthFailedError) -> None:
        self._retry_at = self._clock() + RENEWAL_BACKOFF_SECONDS
        log.warning("auth.token_renewal_failed", error=str(error))

    async def headers(
        self, method: str, url: yarl.URL, body: bytes, base: Mapping[str, str]
    ) -> dict[str, str]:
        token = await self._current()
        return {**base, "X-Auth-Token": token.value}

    async def on_unauthorized(self, code: str, message: str) -> bool:
        if not says_token_expired(code, message):
            return False
        async with self._lock:
            token = self._token
            now = self._clock()
            if token is not None and now - token.fetched_at < RECENT_SECONDS:
                return True  # renewed moment ago (by another request): just send again
            if now < self._retry_at:
                return False  # IAM refused a moment ago
            try:
                await self._fetch(reason="expired")
            except AuthFailedError as error:
                self._renewal_failed(error)
                return False
            return True

    def describe(self) -> str:
        scope = f"project {self._project_id}" if self._project_id else f"region {self._region}"
        return (
            f"IAM password sign-in as {self._identity.user!r} of account "
            f"{self._identity.domain!r} at {self._endpoint}, {scope}"
        )

    def __repr__(self) -> str:
        return f"<IamPasswordAuthenticator {self.describe()}>"
