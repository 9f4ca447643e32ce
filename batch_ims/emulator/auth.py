"""Authentication as the API gateway does it: AK/SK signatures, temporary keys, tokens.

Failures answer 401 with APIG.0301 bodies whose messages are the ones Huawei documents
("verify aksk signature fail", "Get secretKey failed ... ak not exist", "token expires,
expires_at: ...", "decrypt token fail", "x-auth-token not found").

Project id: when the emulator is given one, IMS requests must name it in X-Project-Id
(AK/SK) or carry a token scoped to it. A mismatch answers 403 with IMS's IMG.0030
("The project ID and token in the request are invalid."), the code IMS documents for
this case; the runner treats it as a fatal authentication error.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from aiohttp import web

from batch_ims.clouds.huawei.signer import verify
from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.responses import PROJECT_MISMATCH, apig_auth_failure, ims_error

_ALGORITHM = "SDK-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    expires_at: float  # epoch seconds
    project_id: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request authenticated as; `project_id` is the token's scope, if any."""

    kind: str  # "anonymous", "aksk" or "token"
    project_id: str | None = None


class Authenticator:
    def __init__(self, config: EmulatorConfig, *, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._keys = dict(config.keys)
        self._security_tokens = dict(config.security_tokens)
        self._static_tokens = frozenset(config.tokens)
        self._issued: dict[str, IssuedToken] = {}

    def issue_token(self, project_id: str | None) -> tuple[str, float]:
        """A new token for IAM's password sign-in, and when it expires (epoch seconds)."""
        token = "MII" + secrets.token_urlsafe(48)
        expires_at = self._clock() + self._config.token_ttl_s
        self._issued[token] = IssuedToken(expires_at, project_id)
        return token, expires_at

    def authenticate(
        self, request: web.Request, body: bytes, *, request_id: str
    ) -> Principal | web.Response:
        """The request's principal, or the 401 answer to send."""
        if not self._config.auth_required:
            return Principal("anonymous")
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            return self._check_token(token, request_id=request_id)
        authorization = request.headers.get("Authorization")
        if authorization is None:
            return apig_auth_failure("x-auth-token not found", request_id=request_id)
        return self._check_signature(request, authorization, body, request_id=request_id)

    def check_project(self, request: web.Request, principal: Principal) -> web.Response | None:
        """403 IMG.0030 when a project id is configured and the request names another."""
        expected = self._config.project_id
        if expected is None or principal.kind == "anonymous":
            return None
        header = request.headers.get("X-Project-Id")
        if principal.kind == "aksk":
            matches = header == expected
        else:
            matches = principal.project_id in (None, expected) and header in (None, expected)
        if matches:
            return None
        return ims_error(403, *PROJECT_MISMATCH)

    def _check_token(self, token: str, *, request_id: str) -> Principal | web.Response:
        if token in self._static_tokens:
            return Principal("token")
        issued = self._issued.get(token)
        if issued is None:
            return apig_auth_failure("decrypt token fail", request_id=request_id)
        if self._clock() >= issued.expires_at:
            expired = datetime.fromtimestamp(issued.expires_at, tz=UTC).isoformat()
            return apig_auth_failure(f"token expires, expires_at: {expired}", request_id=request_id)
        return Principal("token", issued.project_id)

    def _check_signature(
        self, request: web.Request, authorization: str, body: bytes, *, request_id: str
    ) -> Principal | web.Response:
        parsed = _parse_authorization(authorization)
        if parsed is None:
            return apig_auth_failure(
                "verify aksk signature fail, malformed Authorization header", request_id=request_id
            )
        access_key, signed_headers = parsed
        if access_key not in self._keys:
            detail = f"Get secretKey failed,ak:{access_key},err:ak not exist"
            return apig_auth_failure(detail, request_id=request_id)
        problem = self._security_token_problem(request, access_key, signed_headers)
        if problem is None:
            problem = self._signature_problem(request, body)
        if problem is not None:
            detail = f"verify aksk signature fail, {problem}"
            return apig_auth_failure(detail, request_id=request_id)
        return Principal("aksk")

    def _security_token_problem(
        self, request: web.Request, access_key: str, signed_headers: frozenset[str]
    ) -> str | None:
        expected = self._security_tokens.get(access_key)
        sent = request.headers.get("X-Security-Token")
        if expected is None:
            return None if sent is None else "security token sent for a permanent access key"
        if sent is None:
            return "security token required for a temporary access key"
        if not secrets.compare_digest(sent.encode(), expected.encode()):
            return "security token invalid"
        if "x-security-token" not in signed_headers:
            return "x-security-token must be signed"
        return None

    def _signature_problem(self, request: web.Request, body: bytes) -> str | None:
        url = request.rel_url
        verdict = verify(
            lookup_sk=self._keys.get,
            method=request.method,
            raw_path=url.raw_path,
            query=parse_qsl(url.raw_query_string, keep_blank_values=True),
            headers=request.headers,
            body=body,
            now=datetime.fromtimestamp(self._clock(), tz=UTC),
        )
        return None if verdict.ok else verdict.reason or "signature mismatch"


def _parse_authorization(value: str) -> tuple[str, frozenset[str]] | None:
    """(access key, signed header names) from `SDK-HMAC-SHA256 Access=.., SignedHeaders=..`."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != _ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, item = part.strip().partition("=")
        if sep:
            fields[key] = item
    access_key = fields.get("Access", "")
    if not access_key or "Signature" not in fields:
        return None
    signed = frozenset(fields.get("SignedHeaders", "").split(";"))
    return access_key, signed
