"""Authentication for IMS requests: AK/SK signing, temporary keys, tokens, IAM password sign-in.

Modes, first match wins (variables set to the empty string count as unset):

1. Token — `BATCH_IMS_AUTH_TOKEN` is set: sent as `X-Auth-Token`, nothing signed, never renewed.
2. IAM password sign-in — any of `BATCH_IMS_IAM_USER`, `BATCH_IMS_IAM_PASSWORD`,
   `BATCH_IMS_IAM_DOMAIN` (account name) is set; all three are then required. One project-scoped
   token is fetched from IAM `POST /v3/auth/tokens` before the first request, scoped by
   `HUAWEICLOUD_SDK_PROJECT_ID` or else by the region's name; it is renewed shortly before it
   expires (tokens live 24 h) and once when the API answers 401 "token expired".
3. AK/SK — `HUAWEICLOUD_SDK_AK` + `HUAWEICLOUD_SDK_SK`, or `ak` + `sk` of the `--profile NAME`
   section of the credentials file. With `HUAWEICLOUD_SDK_SECURITY_TOKEN` (or the profile's
   `security_token`) they are temporary keys: the token is sent as `X-Security-Token` and signed.
   The project id (`HUAWEICLOUD_SDK_PROJECT_ID`, else the profile's `project_id`) is sent as
   `X-Project-Id`; with none, it is looked up from IAM `GET /v3/projects?name={region}`, signed,
   as huaweicloudsdkcore does, and logged (`auth.project_resolved`).

Keys come as a set: if any of `HUAWEICLOUD_SDK_AK`, `_SK`, `_SECURITY_TOKEN` is set, all keys come
from the environment and the profile's are ignored. Other values: an environment variable wins over
the profile (`project_id`, `iam_endpoint`); the region is `--region`, else the one in the
`--endpoint` host name, else the profile's `region`.

Credentials file: `HUAWEICLOUD_SDK_CREDENTIALS_FILE`, default `~/.huaweicloud/credentials`, the
SDK's INI format (`--profile basic` reads the section the SDK itself uses). One another user owns,
or group or others may write, is refused (`configfile`); a warning
(`auth.credentials_file_permissive`) is logged when group or others may read it.

IAM endpoint: `HUAWEICLOUD_SDK_IAM_ENDPOINT`, else the profile's `iam_endpoint`, else
`https://iam.myhuaweicloud.com`; plain http only for a loopback host.

Secrets (SK, security token, token, password) never appear in exception text, reprs, logs or
`describe()`.
"""

from __future__ import annotations

from batch_ims.clouds.auth import Authenticator, AuthFailedError
from batch_ims.clouds.huawei.hints import (
    clock_skew,
    failure_hint,
    is_auth_failure,
    says_token_expired,
)
from batch_ims.clouds.huawei.resolve import (
    AuthSettings,
    build_authenticator,
    load_auth_settings,
    resolve_authenticator,
)

__all__ = [
    "AuthFailedError",
    "AuthSettings",
    "Authenticator",
    "build_authenticator",
    "clock_skew",
    "failure_hint",
    "is_auth_failure",
    "load_auth_settings",
    "resolve_authenticator",
    "says_token_expired",
]
