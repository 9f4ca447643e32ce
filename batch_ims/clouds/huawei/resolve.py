"""Environment (and `--profile`) -> one authentication mode. Precedence: see `clouds.huawei`."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog
import yarl

from batch_ims.clouds.auth import Authenticator, Clock
from batch_ims.clouds.huawei import names as base
from batch_ims.clouds.huawei.aksk import AkSkAuthenticator
from batch_ims.clouds.huawei.credfile import Profile, credentials_path, read_profile
from batch_ims.clouds.huawei.iam import PasswordIdentity
from batch_ims.clouds.huawei.providers import DEFAULT, Provider, fill_template
from batch_ims.clouds.huawei.token import IamPasswordAuthenticator, StaticTokenAuthenticator
from batch_ims.errors import AuthConfigError, UsageError
from batch_ims.logsetup import register_secret
from batch_ims.transport.endpoint import check_endpoint

log = structlog.get_logger()

_IAM_VARS = (base.ENV_IAM_USER, base.ENV_IAM_PASSWORD, base.ENV_IAM_DOMAIN)
_KEY_VARS = (base.ENV_AK, base.ENV_SK, base.ENV_SECURITY_TOKEN)
_REGION_LABEL = re.compile(r"^[a-z]{2}-[a-z0-9]+(-\d+)?$")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """The credentials chosen for a run, merged from the environment and the profile.

    Secrets (`sk`, `security_token`, `token`, `iam_password`) are kept out of repr.
    """

    mode: str
    source: str
    region: str | None
    project_id: str | None
    iam_endpoint: yarl.URL | None  # None: the provider has none and none was given
    ak: str | None = None
    sk: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    iam_user: str | None = None
    iam_domain: str | None = None
    iam_password: str | None = field(default=None, repr=False)


def _get(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _need(value: str | None) -> str:
    if not value:
        raise AuthConfigError("incomplete authentication settings")  # guarded by the loaders
    return value


def _need_url(value: yarl.URL | None) -> yarl.URL:
    if value is None:
        raise AuthConfigError("no IAM endpoint")  # guarded by `_needs_iam`
    return value


def region_from_endpoint(endpoint: yarl.URL | None) -> str | None:
    """`cn-north-4` from `https://ims.cn-north-4.myhuaweicloud.com` (`eu-de` from
    `https://ims.eu-de.otc.t-systems.com`), else None."""
    labels = (endpoint.host or "").split(".") if endpoint is not None else []
    if len(labels) >= 3 and _REGION_LABEL.match(labels[1]):
        return labels[1]
    return None


def _iam_endpoint(
    env: Mapping[str, str], profile: Profile | None, provider: Provider, region: str | None
) -> yarl.URL | None:
    """The variable, else the profile's `iam_endpoint` (either may hold `{region}`), else the
    provider's IAM for the region (its global IAM where the region has none)."""
    text = _get(env, base.ENV_IAM_ENDPOINT) or (profile.iam_endpoint if profile else None)
    if text is None:
        return provider.iam_endpoint(region)
    try:
        return check_endpoint(
            fill_template(text, region, name=base.ENV_IAM_ENDPOINT),
            name=base.ENV_IAM_ENDPOINT,
            example="https://iam.myhuaweicloud.com",
        )
    except UsageError as exc:
        raise AuthConfigError(str(exc)) from exc


def _needs_iam(settings: AuthSettings, provider: Provider) -> AuthSettings:
    """IAM is asked for a token (password sign-in) or a project id (keys without one)."""
    needed = settings.mode == base.MODE_IAM_PASSWORD or (
        settings.mode != base.MODE_TOKEN and not settings.project_id and settings.region
    )
    if needed and settings.iam_endpoint is None:
        raise AuthConfigError(
            f"{provider.title} has no known IAM endpoint: set {base.ENV_IAM_ENDPOINT} "
            "(e.g. https://iam.{region}.YOUR-DOMAIN)"
            + ("" if settings.mode == base.MODE_IAM_PASSWORD else f" or {base.ENV_PROJECT_ID}")
        )
    return settings


def _missing(names: tuple[str, ...], present: Mapping[str, str | None]) -> list[str]:
    return [name for name in names if not present.get(name)]


def _iam_settings(
    env: Mapping[str, str], region: str | None, project_id: str | None, iam: yarl.URL | None
) -> AuthSettings:
    values = {name: _get(env, name) for name in _IAM_VARS}
    missing = _missing(_IAM_VARS, values)
    if missing:
        raise AuthConfigError(f"IAM password sign-in is incomplete: set {', '.join(missing)}")
    if not project_id and not region:
        raise AuthConfigError(
            f"IAM password sign-in needs a project scope: set {base.ENV_PROJECT_ID} or --region"
        )
    return AuthSettings(
        mode=base.MODE_IAM_PASSWORD,
        source="environment",
        region=region,
        project_id=project_id,
        iam_endpoint=iam,
        iam_user=values[base.ENV_IAM_USER],
        iam_domain=values[base.ENV_IAM_DOMAIN],
        iam_password=values[base.ENV_IAM_PASSWORD],
    )


def _keys_from_env(env: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    values = {name: _get(env, name) for name in _KEY_VARS}
    if not any(values.values()):
        return None
    missing = _missing((base.ENV_AK, base.ENV_SK), values)
    if missing:
        set_ = [name for name in _KEY_VARS if values[name]]
        raise AuthConfigError(f"{', '.join(set_)} set but {', '.join(missing)} missing")
    return _need(values[base.ENV_AK]), _need(values[base.ENV_SK]), values[base.ENV_SECURITY_TOKEN]


def _keys_from_profile(profile: Profile) -> tuple[str, str, str | None] | None:
    if not (profile.ak or profile.sk or profile.security_token):
        return None
    if not profile.ak or not profile.sk:
        missing = "ak" if not profile.ak else "sk"
        raise AuthConfigError(
            f"profile {profile.name!r} in credentials file {profile.path} has no {missing!r}"
        )
    return profile.ak, profile.sk, profile.security_token


def _no_credentials(profile_name: str | None) -> AuthConfigError:
    where = f" (profile {profile_name!r} has no ak/sk)" if profile_name else ""
    return AuthConfigError(
        f"no credentials{where}: set {base.ENV_AK} and {base.ENV_SK}, or use --profile NAME, "
        f"{base.ENV_AUTH_TOKEN}, or {', '.join(_IAM_VARS)}"
    )


def _key_settings(
    env: Mapping[str, str],
    profile: Profile | None,
    region: str | None,
    project_id: str | None,
    iam: yarl.URL | None,
) -> AuthSettings:
    keys, source = _keys_from_env(env), "environment"
    if keys is None and profile is not None:
        keys, source = _keys_from_profile(profile), f"profile {profile.name!r}"
    if keys is None:
        raise _no_credentials(profile.name if profile else None)
    ak, sk, security_token = keys
    return AuthSettings(
        mode=base.MODE_TEMPORARY_AKSK if security_token else base.MODE_AKSK,
        source=source,
        region=region,
        project_id=project_id,
        iam_endpoint=iam,
        ak=ak,
        sk=sk,
        security_token=security_token,
    )


def load_auth_settings(
    *,
    env: Mapping[str, str],
    profile: str | None,
    region: str | None,
    endpoint: yarl.URL | None = None,
    provider: Provider = DEFAULT,
) -> AuthSettings:
    """Pick the mode and gather its values; AuthConfigError (nothing sent) when unusable."""
    prof = read_profile(credentials_path(env), profile) if profile else None
    region = region or region_from_endpoint(endpoint) or (prof.region if prof else None)
    project_id = _get(env, base.ENV_PROJECT_ID) or (prof.project_id if prof else None)
    iam = _iam_endpoint(env, prof, provider, region)
    token = _get(env, base.ENV_AUTH_TOKEN)
    if token:
        return AuthSettings(
            mode=base.MODE_TOKEN,
            source="environment",
            region=region,
            project_id=project_id,
            iam_endpoint=iam,
            token=token,
        )
    if any(_get(env, name) for name in _IAM_VARS):
        return _needs_iam(_iam_settings(env, region, project_id, iam), provider)
    return _needs_iam(_key_settings(env, prof, region, project_id, iam), provider)


def build_authenticator(settings: AuthSettings, *, clock: Clock = time.time) -> Authenticator:
    """The authenticator for settings produced by `load_auth_settings`."""
    if settings.mode == base.MODE_TOKEN and settings.token:
        return StaticTokenAuthenticator(
            token=settings.token, project_id=settings.project_id, region=settings.region
        )
    if settings.mode == base.MODE_IAM_PASSWORD:
        identity = PasswordIdentity(
            user=_need(settings.iam_user),
            domain=_need(settings.iam_domain),
            password=_need(settings.iam_password),
        )
        return IamPasswordAuthenticator(
            identity=identity,
            project_id=settings.project_id,
            region=settings.region,
            iam_endpoint=_need_url(settings.iam_endpoint),
            clock=clock,
        )
    return AkSkAuthenticator(
        ak=_need(settings.ak),
        sk=_need(settings.sk),
        security_token=settings.security_token,
        project_id=settings.project_id,
        region=settings.region,
        iam_endpoint=settings.iam_endpoint,
        source=f"from {settings.source}",
        clock=clock,
    )


def _ignored(env: Mapping[str, str], mode: str) -> list[str]:
    outranked = {
        base.MODE_TOKEN: (*_IAM_VARS, *_KEY_VARS),
        base.MODE_IAM_PASSWORD: _KEY_VARS,
    }.get(mode, ())
    return [name for name in outranked if _get(env, name)]


def resolve_authenticator(
    *,
    env: Mapping[str, str],
    profile: str | None,
    region: str | None,
    clock: Clock = time.time,
    endpoint: yarl.URL | None = None,
    provider: Provider = DEFAULT,
) -> Authenticator:
    """The authenticator for this run. `endpoint` (optional) lends its region when `region`
    is None. Raises AuthConfigError with one clear line when no usable credentials exist."""
    settings = load_auth_settings(
        env=env, profile=profile, region=region, endpoint=endpoint, provider=provider
    )
    return authenticate(settings, env, clock=clock)


def authenticate(
    settings: AuthSettings, env: Mapping[str, str], *, clock: Clock = time.time
) -> Authenticator:
    """The authenticator for loaded settings; their secrets registered for redaction."""
    for secret in (settings.sk, settings.security_token, settings.token, settings.iam_password):
        register_secret(secret)  # the log set-up cuts these out of any line, as a second guard
    authenticator = build_authenticator(settings, clock=clock)
    log.info(
        "auth.mode_selected",
        mode=settings.mode,
        source=settings.source,
        ignored=_ignored(env, settings.mode),
    )
    return authenticator
