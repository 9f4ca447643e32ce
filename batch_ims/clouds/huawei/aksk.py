"""AK/SK signing, permanent or temporary keys (`X-Security-Token`, signed like every header)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import structlog
import yarl

from batch_ims.clouds.auth import AuthFailedError, Clock
from batch_ims.clouds.huawei.iam import fetch_project_id
from batch_ims.clouds.huawei.names import MODE_AKSK, MODE_TEMPORARY_AKSK, mask_key
from batch_ims.clouds.huawei.signer import RequestSigner, sdk_date

log = structlog.get_logger()


class AkSkAuthenticator:
    """Signs every request with `SDK-HMAC-SHA256`; adds `X-Project-Id` (and `X-Security-Token`).

    With no project id but a region, `prepare` looks the id up from IAM (as the SDK does).
    """

    __slots__ = (
        "_ak",
        "_clock",
        "_extra",
        "_iam_endpoint",
        "_project_id",
        "_region",
        "_security_token",
        "_signer",
        "_source",
    )

    def __init__(
        self,
        *,
        ak: str,
        sk: str,
        security_token: str | None,
        project_id: str | None,
        region: str | None,
        iam_endpoint: yarl.URL | None,
        source: str,
        clock: Clock,
    ) -> None:
        self._ak = ak
        self._security_token = security_token
        self._project_id = project_id
        self._region = region
        self._iam_endpoint = iam_endpoint
        self._source = source
        self._clock = clock
        self._extra = self._auth_extra()
        self._signer = RequestSigner(ak=ak, sk=sk)

    @property
    def mode(self) -> str:
        return MODE_TEMPORARY_AKSK if self._security_token else MODE_AKSK

    @property
    def region(self) -> str | None:
        return self._region

    @property
    def project_id(self) -> str | None:
        return self._project_id

    def _auth_extra(self) -> dict[str, str]:
        extra: dict[str, str] = {}
        if self._project_id:
            extra["X-Project-Id"] = self._project_id
        if self._security_token:
            extra["X-Security-Token"] = self._security_token
        return extra

    def _sign(
        self, method: str, url: yarl.URL, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        return self._signer.sign(method, url, body, headers, sdk_date(self._clock()))

    async def prepare(self, session: aiohttp.ClientSession) -> None:
        if self._project_id:
            return
        if not self._region:
            log.warning("auth.project_unknown", mode=self.mode, reason="no project id, no region")
            return
        security = {"X-Security-Token": self._security_token} if self._security_token else {}

        def sign(
            method: str, url: yarl.URL, body: bytes, headers: Mapping[str, str]
        ) -> dict[str, str]:
            return self._sign(method, url, body, {**headers, **security})

        if self._iam_endpoint is None:  # refused earlier, when the settings were loaded
            raise AuthFailedError("no IAM endpoint to look the project id up")
        self._project_id = await fetch_project_id(
            session,
            endpoint=self._iam_endpoint,
            region=self._region,
            sign=sign,
            mode=self.mode,
            clock=self._clock,
        )
        self._extra = self._auth_extra()
        log.info(
            "auth.project_resolved",
            project_id=self._project_id,
            region=self._region,
            iam_endpoint=str(self._iam_endpoint),
        )

    async def headers(
        self, method: str, url: yarl.URL, body: bytes, base: Mapping[str, str]
    ) -> dict[str, str]:
        return self._sign(method, url, body, {**base, **self._extra})

    async def on_unauthorized(self, code: str, message: str) -> bool:
        return False

    def describe(self) -> str:
        kind = "temporary AK/SK" if self._security_token else "AK/SK"
        project = self._project_id or "not set"
        region = self._region or "not set"
        return (
            f"{kind} (key {mask_key(self._ak)}, {self._source}), project {project}, region {region}"
        )

    def __repr__(self) -> str:
        return f"<AkSkAuthenticator {self.describe()}>"
