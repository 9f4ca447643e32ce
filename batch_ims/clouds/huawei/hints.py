"""Recognise authentication failures and say, in one line, what to check.

Codes (Huawei Cloud documentation):
- API gateway, `error_code` in the body; `APIGW.*` on older gateways, `APIG.*` on newer ones:
  0301 (401) incorrect IAM authentication information (bad signature, unknown AK, bad or expired
  token); 0302 (403) IAM user not authorised for the API; 0303 (401) incorrect app
  authentication; 0304 (403) app not authorised; 0305 (401) incorrect authentication information;
  0306 (403) API access denied; 0307 (401) the token must be updated (expired).
- IMS, `{"error": {"code": ...}}`: IMG.0026 the operator does not have the rights (permission or
  real-name authentication missing); IMG.0030 the project id and token are invalid. IMS documents
  both with status 400, so they count whatever the 4xx status.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from batch_ims.clouds.huawei.names import (
    ENV_AK,
    ENV_AUTH_TOKEN,
    ENV_IAM_DOMAIN,
    ENV_IAM_PASSWORD,
    ENV_IAM_USER,
    ENV_SECURITY_TOKEN,
    ENV_SK,
    MODE_IAM_PASSWORD,
    MODE_TEMPORARY_AKSK,
    MODE_TOKEN,
    SIGNING_MODES,
)
from batch_ims.redaction import one_line

SKEW_LIMIT_SECONDS = 300.0
_MESSAGE_LIMIT = 160

_GATEWAY_AUTHN = frozenset({"0301", "0303", "0305", "0307"})
_GATEWAY_AUTHZ = frozenset({"0302", "0304", "0306"})
_IMS_PERMISSION = "IMG.0026"
_IMS_PROJECT_TOKEN = "IMG.0030"  # noqa: S105 - an error code
_IMS_CODES = frozenset({_IMS_PERMISSION, _IMS_PROJECT_TOKEN})


def _gateway_number(code: str) -> str | None:
    prefix, _, number = code.upper().partition(".")
    return number if prefix in ("APIG", "APIGW") else None


def is_auth_failure(status: int, code: str) -> bool:
    """True when an answer means the credentials (or their permissions) are wrong.

    Every 401 is one. A 403 is one only with a gateway authentication/authorisation code or
    IMG.0026/IMG.0030 (IMS also answers 403 for a read-only attribute, which is not).
    """
    if status == 401:
        return True
    if code.upper() in _IMS_CODES:
        return 400 <= status < 500
    if status != 403:
        return False
    number = _gateway_number(code)
    return number is not None and number in (_GATEWAY_AUTHN | _GATEWAY_AUTHZ)


def says_token_expired(code: str, message: str) -> bool:
    """The gateway's way of saying a token is past its expiry."""
    if _gateway_number(code) == "0307":
        return True
    lowered = message.lower()
    return "token" in lowered and "expire" in lowered


def clock_skew(server_date: str | None, now: datetime) -> float | None:
    """Local clock minus the server's `Date` header, in seconds; None when unknown."""
    if not server_date:
        return None
    try:
        server = parsedate_to_datetime(server_date)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None or now.tzinfo is None:
        return None
    return (now - server).total_seconds()


def _duration(seconds: float) -> str:
    whole = round(abs(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _skew_text(skew: float) -> str:
    direction = "ahead of" if skew > 0 else "behind"
    return f"the local clock is {_duration(skew)} {direction} the server's"


def _likely_cause(code: str, message: str, mode: str, skew: float | None) -> str:
    number = _gateway_number(code)
    lowered = message.lower()
    if mode in SIGNING_MODES and skew is not None and abs(skew) > SKEW_LIMIT_SECONDS:
        return _skew_text(skew) + ", so signatures are refused: fix the clock (NTP)"
    if code.upper() == _IMS_PERMISSION or number in _GATEWAY_AUTHZ:
        return "the credentials are valid but lack IMS permissions in this project (IAM policy)"
    if code.upper() == _IMS_PROJECT_TOKEN:
        return "the project id does not belong to these credentials or this region"
    if says_token_expired(code, message):
        return "the token has expired"
    if "ak not exist" in lowered or "secretkey" in lowered:
        return "the access key is unknown"
    if "signature" in lowered:
        return "the secret key does not match the access key (or the request was altered)"
    if mode == MODE_TEMPORARY_AKSK:
        return "the temporary keys are wrong or have expired"
    if mode == MODE_TOKEN and "token" in lowered:
        return "the token is invalid, expired or scoped to another project"
    return "the credentials were refused"


def _checks(mode: str, region: str | None, project_id: str | None) -> list[str]:
    if mode == MODE_TOKEN:
        items = [f"{ENV_AUTH_TOKEN} (tokens live 24 h and are scoped to one project)"]
    elif mode == MODE_IAM_PASSWORD:
        items = [f"{ENV_IAM_USER}, {ENV_IAM_PASSWORD}, {ENV_IAM_DOMAIN} (account name)"]
    elif mode == MODE_TEMPORARY_AKSK:
        items = [f"{ENV_AK}, {ENV_SK} and {ENV_SECURITY_TOKEN} (temporary keys expire)"]
    else:
        items = [f"{ENV_AK} and {ENV_SK} (a matching, enabled pair; no stray spaces)"]
    items.append(f"project id {project_id}" if project_id else "the project id")
    items.append(f"region {region}" if region else "the region")
    if mode in SIGNING_MODES:
        items.append("the local clock")
    return items


def failure_hint(
    *,
    code: str,
    message: str,
    server_date: str | None,
    now: datetime,
    mode: str,
    region: str | None,
    project_id: str | None,
) -> str:
    """One line for the user after an authentication failure: the answer, the likely cause,
    what to check, and the measured clock skew when the server's `Date` is far from ours."""
    skew = clock_skew(server_date, now)
    answer = f"{code}: {one_line(message, _MESSAGE_LIMIT)}" if message else code
    parts = [
        f"authentication failed ({answer})",
        "likely cause: " + _likely_cause(code, message, mode, skew),
        "check " + ", ".join(_checks(mode, region, project_id)),
    ]
    if skew is not None and abs(skew) > SKEW_LIMIT_SECONDS and mode not in SIGNING_MODES:
        parts.append(_skew_text(skew))
    elif skew is not None and mode in SIGNING_MODES and abs(skew) <= SKEW_LIMIT_SECONDS:
        parts.append(f"the local clock is within {_duration(skew)} of the server's")
    return "; ".join(parts)
