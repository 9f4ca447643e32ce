"""The two IAM calls batch-ims makes: password sign-in and project-id lookup.

- `POST /v3/auth/tokens?nocatalog=true` with a password identity and a project scope (by id, or by
  the region's name); the token comes back in the `X-Subject-Token` header, its life in the
  body's `token.issued_at` / `token.expires_at`.
- `GET /v3/projects?name={region}`, signed with the AK/SK, as huaweicloudsdkcore does when
  `BasicCredentials` have no project id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import yarl

from batch_ims.clouds.auth import AuthFailedError, Clock, SignInUnreachableError, unreachable
from batch_ims.clouds.huawei.errors import parse_error
from batch_ims.clouds.huawei.hints import failure_hint
from batch_ims.transport.client import read_capped

SignFn = Callable[[str, yarl.URL, bytes, Mapping[str, str]], dict[str, str]]

TOKEN_LIFETIME_SECONDS = 24 * 3600.0
_TIMEOUT = aiohttp.ClientTimeout(total=30)
_JSON = "application/json;charset=UTF-8"


@dataclass(frozen=True, slots=True)
class IamToken:
    """A token from IAM. `expires_at` is on the local clock (see `_local_expiry`)."""

    value: str = field(repr=False)
    fetched_at: float
    expires_at: float
    project_id: str | None


@dataclass(frozen=True, slots=True)
class PasswordIdentity:
    user: str
    domain: str
    password: str = field(repr=False)


def iam_url(endpoint: yarl.URL, path: str) -> yarl.URL:
    return yarl.URL(str(endpoint).rstrip("/") + path)


def sign_in_body(
    identity: PasswordIdentity, *, project_id: str | None, region: str | None
) -> dict[str, Any]:
    """The request body of a password sign-in scoped to one project."""
    scope = {"id": project_id} if project_id else {"name": region}
    user: dict[str, Any] = {
        "name": identity.user,
        "password": identity.password,
        "domain": {"name": identity.domain},
    }
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": scope},
        }
    }


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _local_expiry(token_body: Mapping[str, Any], fetched_at: float) -> float:
    """Expiry on our clock: the token's life (server `expires_at - issued_at`) from the time we
    got it, so a skewed local clock cannot make us use an expired token or refresh in a loop."""
    expires = _timestamp(token_body.get("expires_at"))
    issued = _timestamp(token_body.get("issued_at"))
    if expires is not None and issued is not None and expires > issued:
        return fetched_at + (expires - issued)
    return fetched_at + TOKEN_LIFETIME_SECONDS


def _token_body(raw: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    token = data.get("token") if isinstance(data, dict) else None
    return token if isinstance(token, dict) else {}


def _unreachable(endpoint: yarl.URL, error: BaseException) -> SignInUnreachableError:
    return unreachable(
        error, service="IAM", url=str(endpoint), check="HUAWEICLOUD_SDK_IAM_ENDPOINT"
    )


async def _refusal(
    what: str,
    response: aiohttp.ClientResponse,
    *,
    mode: str,
    scope: Mapping[str, str | None],
    clock: Clock,
) -> AuthFailedError:
    raw = await read_capped(response)
    error = parse_error(response.status, raw, response.headers.get("Content-Type"))
    hint = failure_hint(
        code=error.code,
        message=error.message,
        server_date=response.headers.get("Date"),
        now=datetime.fromtimestamp(clock(), UTC),
        mode=mode,
        region=scope.get("region"),
        project_id=scope.get("project_id"),
    )
    return AuthFailedError(f"{what} refused with HTTP {response.status}: {hint}")


async def sign_in(
    session: aiohttp.ClientSession,
    *,
    endpoint: yarl.URL,
    identity: PasswordIdentity,
    project_id: str | None,
    region: str | None,
    clock: Clock,
) -> IamToken:
    """Obtain a project-scoped token; AuthFailedError when IAM refuses, SignInUnreachableError
    when it gives no answer."""
    url = iam_url(endpoint, "/v3/auth/tokens").with_query(nocatalog="true")
    body = json.dumps(sign_in_body(identity, project_id=project_id, region=region))
    scope = {"project_id": project_id, "region": region}
    try:
        async with session.post(
            url,
            data=body.encode(),
            headers={"Content-Type": _JSON},
            timeout=_TIMEOUT,
            allow_redirects=False,
        ) as response:
            if response.status not in (200, 201):
                raise await _refusal(
                    "IAM sign-in", response, mode="iam-password", scope=scope, clock=clock
                )
            value = response.headers.get("X-Subject-Token", "")
            token_body = _token_body(await read_capped(response))
    except (OSError, aiohttp.ClientError) as error:  # TimeoutError is an OSError
        raise _unreachable(endpoint, error) from None
    if not value:
        raise AuthFailedError(f"IAM at {endpoint} answered the sign-in without X-Subject-Token")
    fetched_at = clock()
    project = token_body.get("project")
    scoped_id = project.get("id") if isinstance(project, dict) else None
    return IamToken(
        value=value,
        fetched_at=fetched_at,
        expires_at=_local_expiry(token_body, fetched_at),
        project_id=scoped_id if isinstance(scoped_id, str) else project_id,
    )


def _project_ids(raw: bytes) -> list[str]:
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    projects = data.get("projects") if isinstance(data, dict) else None
    if not isinstance(projects, list):
        return []
    return [p["id"] for p in projects if isinstance(p, dict) and isinstance(p.get("id"), str)]


async def fetch_project_id(
    session: aiohttp.ClientSession,
    *,
    endpoint: yarl.URL,
    region: str,
    sign: SignFn,
    mode: str,
    clock: Clock,
) -> str:
    """The id of the project named after `region`, looked up with a signed IAM request."""
    url = iam_url(endpoint, "/v3/projects").with_query(name=region)
    headers = sign("GET", url, b"", {})
    scope: dict[str, str | None] = {"region": region, "project_id": None}
    try:
        async with session.get(
            url, headers=headers, timeout=_TIMEOUT, allow_redirects=False
        ) as response:
            if response.status != 200:
                raise await _refusal(
                    "IAM project lookup", response, mode=mode, scope=scope, clock=clock
                )
            ids = _project_ids(await read_capped(response))
    except (OSError, aiohttp.ClientError) as error:  # TimeoutError is an OSError
        raise _unreachable(endpoint, error) from None
    if not ids:
        raise AuthFailedError(
            f"IAM has no project named {region!r} for these keys; check --region "
            "or set HUAWEICLOUD_SDK_PROJECT_ID"
        )
    if len(ids) > 1:
        raise AuthFailedError(
            f"IAM has several projects named {region!r} ({', '.join(ids)}); "
            "set HUAWEICLOUD_SDK_PROJECT_ID to the one to use"
        )
    return ids[0]
