"""The variables Huawei-stack authentication reads, its modes, and its IAM default."""

from __future__ import annotations

import yarl

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


def mask_key(ak: str) -> str:
    """Enough of an access key to tell two apart in a log, not the whole of it."""
    return ak[:4] + "…" if len(ak) > 8 else "…"
