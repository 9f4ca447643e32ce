"""Read one profile of the Huawei Cloud SDK credentials file (INI).

The file is the SDK's own (`huaweicloudsdkcore.auth.provider.ProfileCredentialProvider`): one
section per profile (the SDK itself reads `[basic]` and `[global]`), keys `ak`, `sk`,
`security_token`, `project_id`, `iam_endpoint`; batch-ims also reads `region`. Example:

    [basic]
    ak = ...
    sk = ...
    project_id = 0a1b2c3d...
    region = cn-north-4
"""

from __future__ import annotations

import configparser
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from batch_ims.clouds.huawei.names import ENV_CREDENTIALS_FILE
from batch_ims.configfile import read_trusted
from batch_ims.errors import AuthConfigError, UsageError

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Profile:
    """The values of one profile; empty values are None. Secrets are left out of repr."""

    name: str
    path: Path
    ak: str | None = None
    sk: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    project_id: str | None = None
    iam_endpoint: str | None = None
    region: str | None = None


def credentials_path(env: Mapping[str, str]) -> Path:
    """`HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else `~/.huaweicloud/credentials`."""
    configured = env.get(ENV_CREDENTIALS_FILE, "").strip()
    if configured:
        return Path(configured).expanduser()
    home = env.get("HOME", "").strip()
    return (Path(home) if home else Path.home()) / ".huaweicloud" / "credentials"


def _warn_if_readable(path: Path, mode: int) -> None:
    """Warn on a file others may read (they can read the keys), as aws-cli does. One others may
    write, or another user's, was refused by `read_trusted` (they could swap the keys)."""
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("auth.credentials_file_permissive", path=str(path), mode=f"{mode:04o}")


def _parse_problem(error: configparser.Error) -> str:
    # configparser's own messages quote the offending line, which may hold a key: never show it.
    lineno = getattr(error, "lineno", None)
    if lineno is None and isinstance(error, configparser.ParsingError) and error.errors:
        lineno = error.errors[0][0]
    where = f" at line {lineno}" if lineno is not None else ""
    return f"not a valid INI file ({type(error).__name__}{where})"


def _parse(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    try:
        read = read_trusted(path, what="credentials file")
        text = read.data.decode("utf-8")
    except FileNotFoundError:
        raise AuthConfigError(f"credentials file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AuthConfigError(f"credentials file {path}: {type(error).__name__}") from None
    except UsageError as error:
        raise AuthConfigError(str(error)) from None
    _warn_if_readable(path, read.mode)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        raise AuthConfigError(f"credentials file {path}: {_parse_problem(error)}") from None
    return parser


def read_profile(path: Path, name: str) -> Profile:
    """The named section of the credentials file, or AuthConfigError saying what is wrong."""
    parser = _parse(path)
    if not parser.has_section(name):
        known = ", ".join(parser.sections()) or "none"
        raise AuthConfigError(
            f"profile {name!r} not found in credentials file {path} (profiles: {known})"
        )
    section = parser[name]

    def value(key: str) -> str | None:
        return (section.get(key) or "").strip() or None

    return Profile(
        name=name,
        path=path,
        ak=value("ak"),
        sk=value("sk"),
        security_token=value("security_token"),
        project_id=value("project_id"),
        iam_endpoint=value("iam_endpoint"),
        region=value("region"),
    )
