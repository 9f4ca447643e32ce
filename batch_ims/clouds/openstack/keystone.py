"""OpenStack authentication: a Keystone v3 token for a cloud chosen as the `openstack` CLI does.

The cloud comes from openstacksdk's config loader, never from parsing files here:

- `--cloud NAME` (else `OS_CLOUD`) names an entry of `clouds.yaml`, found through
  `OS_CLIENT_CONFIG_FILE` or the standard places (`./clouds.yaml`, `~/.config/openstack/`,
  `/etc/openstack/`), with `secure.yaml` merged in;
- `--cloud envvars` (or no cloud at all while `OS_AUTH_URL` & co. are set) takes the `OS_*`
  variables.

Any Keystone v3 identity plugin keystoneauth1 knows works; the tested ones are `password`,
`v3applicationcredential` and `token` (a pre-issued token exchanged for a scoped one). The token
is fetched in `prepare` (keystoneauth is blocking, so it runs in a worker thread), renewed
`REFRESH_MARGIN_SECONDS` before it expires (half its life for short-lived tokens), and once more
after a 401. keystoneauth makes exactly one `POST /v3/auth/tokens` per fetch (no connect or
status retries), so a wrong password costs one request and stops the run with AuthFailedError.

The image endpoint comes from the token's catalog: service type `image`, the cloud's interface
(`image_interface`, else `interface`, else public) and region (`region_name`, or the override);
a cloud's `image_endpoint_override` wins.

openstacksdk and keystoneauth1 are the `openstack` extra: imported only when this mode is used.
Passwords, secrets and tokens never appear in exception text, reprs, logs or `describe()`.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import structlog
import yarl

from batch_ims.clouds.auth import (
    RECENT_SECONDS,
    REFRESH_MARGIN_SECONDS,
    RENEWAL_BACKOFF_SECONDS,
    AuthFailedError,
    Clock,
    SignInUnreachableError,
    is_network_failure,
    unreachable,
)
from batch_ims.errors import AuthConfigError, UsageError
from batch_ims.logsetup import redact_text, register_secret

if TYPE_CHECKING:
    from keystoneauth1.access import AccessInfo
    from keystoneauth1.identity.base import BaseIdentityPlugin
    from keystoneauth1.session import Session
    from openstack.config.cloud_region import CloudRegion

log = structlog.get_logger()

MODE_KEYSTONE = "keystone"
IMAGE_SERVICE_TYPE = "image"
DEFAULT_INTERFACE = "public"
TOKEN_LIFETIME_SECONDS = 3600.0  # Keystone's default, when a token does not say
INSTALL_HINT = "pip install 'batch-ims[openstack]'"
_SECRET_AUTH_KEYS = ("password", "token", "application_credential_secret", "secret")
_MESSAGE_LIMIT = 160


class OpenStackNotInstalledError(UsageError):
    """The OpenStack mode was asked for but openstacksdk/keystoneauth1 are missing."""

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"OpenStack mode needs openstacksdk and keystoneauth1 ({missing} is not installed): "
            f"{INSTALL_HINT}"
        )


class ImageEndpointNotFoundError(UsageError):
    """The catalog has no image endpoint for the cloud's interface and region."""


@dataclass(frozen=True, slots=True)
class KeystoneGrant:
    """One token from Keystone. `lifetime_s` is its life as the server states it (`expires_at -
    issued_at`), counted from when we receive it so that a skewed local clock does no harm."""

    value: str = field(repr=False)
    lifetime_s: float
    project_id: str | None
    image_url: str | None  # from the catalog; None when it has no such endpoint


@dataclass(frozen=True, slots=True)
class _Held:
    grant: KeystoneGrant
    fetched_at: float

    @property
    def expires_at(self) -> float:
        return self.fetched_at + self.grant.lifetime_s

    @property
    def refresh_at(self) -> float:
        """`REFRESH_MARGIN_SECONDS` before expiry, half-way for short-lived tokens."""
        return self.expires_at - min(REFRESH_MARGIN_SECONDS, self.grant.lifetime_s / 2)


class TokenSource(Protocol):
    """Where tokens come from: a cloud through keystoneauth1, or a stand-in in tests."""

    @property
    def region(self) -> str | None: ...

    @property
    def interface(self) -> str: ...

    @property
    def endpoint_override(self) -> str | None: ...

    def fetch(self) -> KeystoneGrant:
        """A new token (blocking). Raises AuthFailedError when Keystone refuses or is away."""
        ...

    def describe(self) -> str: ...


def _require_sdk() -> None:
    for module in ("keystoneauth1", "openstack"):
        try:
            __import__(module)
        except ImportError:
            raise OpenStackNotInstalledError(module) from None


def _one_line(text: str) -> str:
    flat = " ".join(redact_text(text).split())
    return flat if len(flat) <= _MESSAGE_LIMIT else flat[: _MESSAGE_LIMIT - 1] + "…"


def _auth_type_checks(auth_type: str) -> str:
    if "applicationcredential" in auth_type:
        return "application_credential_id (or _name and username) and application_credential_secret"
    if auth_type in ("token", "v3token"):
        return "the token (it may have expired or been revoked) and its project scope"
    return "username, password, user_domain_name, project_name and project_domain_name"


@dataclass(frozen=True, slots=True)
class _Cloud:
    """What describes a cloud without a secret."""

    name: str
    auth_type: str
    auth_url: str
    user: str | None
    project: str | None


class KeystoneCloud:
    """A cloud from openstacksdk's config loader, with its keystoneauth1 session and plugin."""

    __slots__ = ("_auth", "_cloud", "_interface", "_override", "_region", "_session")

    def __init__(self, region: CloudRegion, *, region_override: str | None) -> None:
        from keystoneauth1.identity.base import BaseIdentityPlugin

        config: Mapping[str, Any] = region.config
        auth_args: Mapping[str, Any] = config.get("auth") or {}
        auth_type = str(config.get("auth_type") or "password")
        for key in _SECRET_AUTH_KEYS:
            value = auth_args.get(key)
            register_secret(value if isinstance(value, str) else None)
        self._cloud = _Cloud(
            name=region.name,
            auth_type=auth_type,
            auth_url=str(auth_args.get("auth_url") or ""),
            user=auth_args.get("username") or auth_args.get("application_credential_id"),
            project=auth_args.get("project_name") or auth_args.get("project_id"),
        )
        plugin = region.get_auth()
        if not isinstance(plugin, BaseIdentityPlugin):
            raise AuthConfigError(
                f"cloud {region.name!r}: auth_type {auth_type!r} does not sign in to Keystone; "
                "use password, v3applicationcredential or token"
            )
        self._auth: BaseIdentityPlugin = plugin
        self._session: Session = region.get_session()
        self._region = region_override or region.get_region_name(IMAGE_SERVICE_TYPE) or None
        interface = region.get_interface(IMAGE_SERVICE_TYPE)
        if isinstance(interface, list):
            interface = next((item for item in interface if item), None)
        self._interface = interface or DEFAULT_INTERFACE
        self._override = region.get_endpoint(IMAGE_SERVICE_TYPE) or None

    @property
    def name(self) -> str:
        return self._cloud.name

    @property
    def auth_url(self) -> str:
        return self._cloud.auth_url

    @property
    def auth_type(self) -> str:
        return self._cloud.auth_type

    @property
    def region(self) -> str | None:
        return self._region

    @property
    def interface(self) -> str:
        return self._interface

    @property
    def endpoint_override(self) -> str | None:
        return self._override

    def fetch(self) -> KeystoneGrant:
        from keystoneauth1 import exceptions as ksa

        self._auth.invalidate()
        try:
            access = self._auth.get_access(self._session)
        except ksa.HttpError as error:
            raise self._refused(error.http_status, error.message) from None
        except ksa.ConnectionError as error:  # refused, DNS, timeout, TLS: no answer
            raise self._unreachable(error) from None
        except ksa.DiscoveryFailure as error:
            if is_network_failure(error):
                raise self._unreachable(error) from None
            raise AuthFailedError(
                f"Keystone at {self._cloud.auth_url} for cloud {self._cloud.name!r}: version "
                f"discovery failed ({_one_line(str(error))}); check auth_url"
            ) from None
        except ksa.ClientException as error:
            raise self._refused(None, str(error)) from None
        return self._grant(access)

    def _unreachable(self, error: BaseException) -> SignInUnreachableError:
        return unreachable(
            error,
            service="Keystone",
            url=self._cloud.auth_url,
            check=f"auth_url of cloud {self._cloud.name!r}",
        )

    def _refused(self, status: int | None, message: str) -> AuthFailedError:
        answer = f"HTTP {status}" if status else "refused"
        detail = f" ({_one_line(message)})" if message else ""
        return AuthFailedError(
            f"Keystone at {self._cloud.auth_url} refused cloud {self._cloud.name!r} "
            f"({self._cloud.auth_type}): {answer}{detail}; check "
            f"{_auth_type_checks(self._cloud.auth_type)} in clouds.yaml, secure.yaml or OS_*"
        )

    def _grant(self, access: AccessInfo) -> KeystoneGrant:
        token = access.auth_token
        if not token:
            raise AuthFailedError(f"Keystone at {self._cloud.auth_url} answered without a token")
        register_secret(token)
        return KeystoneGrant(
            value=token,
            lifetime_s=_lifetime(access.issued, access.expires),
            project_id=access.project_id,
            image_url=self._image_url(access),
        )

    def _image_url(self, access: AccessInfo) -> str | None:
        from keystoneauth1 import exceptions as ksa

        try:
            return access.service_catalog.url_for(
                service_type=IMAGE_SERVICE_TYPE,
                interface=self._interface,
                region_name=self._region,
            )
        except ksa.EndpointNotFound:
            return None

    def describe(self) -> str:
        cloud = self._cloud
        who = f" as {cloud.user!r}" if cloud.user else ""
        project = f", project {cloud.project!r}" if cloud.project else ""
        region = f", region {self._region}" if self._region else ""
        return f"Keystone {cloud.auth_type}{who} for cloud {cloud.name!r}{project}{region}"

    def __repr__(self) -> str:
        return f"<KeystoneCloud {self.describe()}>"


def _lifetime(issued: datetime | None, expires: datetime | None) -> float:
    if issued is not None and expires is not None and expires > issued:
        return (expires - issued).total_seconds()
    return TOKEN_LIFETIME_SECONDS


def load_cloud(cloud: str | None, *, region: str | None = None) -> KeystoneCloud:
    """The cloud named `cloud` (None: `OS_CLOUD`, else `envvars` when `OS_*` are set), as the
    `openstack` CLI would pick it. `region` overrides the cloud's `region_name`.

    Raises OpenStackNotInstalledError without the extra, AuthConfigError for an unknown cloud or
    incomplete auth settings. Nothing is sent."""
    _require_sdk()
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk
    from openstack.config import loader

    try:
        with warnings.catch_warnings():
            # openstacksdk warns about InfluxDB on every load, configured or not
            warnings.filterwarnings("ignore", message="Support for InfluxDB")
            config = loader.OpenStackConfig(app_name="batch-ims")
            chosen = config.get_one(cloud=cloud, region_name=region)
    except (sdk.SDKException, ksa.ClientException) as error:
        name = cloud or "(default)"
        raise AuthConfigError(f"cloud {name}: {_one_line(str(error))}") from None
    return KeystoneCloud(chosen, region_override=region)


class KeystoneAuthenticator:
    """`X-Auth-Token` from Keystone for one cloud, renewed before it expires. Concurrent callers
    share one renewal. Only `prepare` raises AuthFailedError; a failed renewal later is logged
    and left to the API's 401s."""

    __slots__ = ("_clock", "_held", "_lock", "_retry_at", "_source", "_token_requests")

    mode = MODE_KEYSTONE

    def __init__(self, source: TokenSource, *, clock: Clock = time.time) -> None:
        self._source = source
        self._clock = clock
        self._lock = asyncio.Lock()
        self._held: _Held | None = None
        self._retry_at = 0.0
        self._token_requests = 0

    @property
    def region(self) -> str | None:
        return self._source.region

    @property
    def project_id(self) -> str | None:
        return self._held.grant.project_id if self._held else None

    @property
    def token_requests(self) -> int:
        """How many tokens were asked of Keystone so far (for the summary and tests)."""
        return self._token_requests

    async def prepare(self, session: aiohttp.ClientSession) -> None:
        async with self._lock:
            if self._held is None:
                await self._fetch(reason="start")

    def image_endpoint(self) -> yarl.URL:
        """The image service's URL: the cloud's override, else the token's catalog entry.

        Raises RuntimeError before `prepare`, ImageEndpointNotFoundError when the catalog has no
        image endpoint for the interface and region."""
        if self._source.endpoint_override:
            return yarl.URL(self._source.endpoint_override)
        if self._held is None:
            raise RuntimeError("KeystoneAuthenticator.prepare() was not awaited")
        image_url = self._held.grant.image_url
        if not image_url:
            region = f", region {self.region}" if self.region else ""
            raise ImageEndpointNotFoundError(
                f"the Keystone catalog has no '{IMAGE_SERVICE_TYPE}' endpoint (interface "
                f"{self._source.interface}{region}); check interface and region_name, or give "
                "--endpoint"
            )
        return yarl.URL(image_url)

    async def _fetch(self, *, reason: str) -> _Held:
        self._token_requests += 1
        grant = await asyncio.to_thread(self._source.fetch)
        held = _Held(grant=grant, fetched_at=self._clock())
        self._held = held
        log.info(
            "auth.token_obtained",
            mode=MODE_KEYSTONE,
            reason=reason,
            project_id=grant.project_id,
            expires_in_s=round(grant.lifetime_s),
        )
        return held

    async def _current(self) -> _Held:
        held = self._held
        now = self._clock()
        if held is not None and (now < held.refresh_at or now < self._retry_at):
            return held
        async with self._lock:
            current = self._held
            if current is None:
                return await self._fetch(reason="start")
            if current is not held or self._clock() < self._retry_at:
                return current  # another caller renewed it, or just failed to, while we waited
            try:
                return await self._fetch(reason="expiring")
            except AuthFailedError as error:
                self._renewal_failed(error)
                return current

    def _renewal_failed(self, error: AuthFailedError) -> None:
        self._retry_at = self._clock() + RENEWAL_BACKOFF_SECONDS
        log.warning("auth.token_renewal_failed", mode=MODE_KEYSTONE, error=str(error))

    async def headers(
        self, method: str, url: yarl.URL, body: bytes, base: Mapping[str, str]
    ) -> dict[str, str]:
        held = await self._current()
        return {**base, "X-Auth-Token": held.grant.value}

    async def on_unauthorized(self, code: str, message: str) -> bool:
        """A 401 from the image service: fetch a new token, unless one was fetched moments ago
        (then just send again) or Keystone refused moments ago."""
        async with self._lock:
            held = self._held
            now = self._clock()
            if held is not None and now - held.fetched_at < RECENT_SECONDS:
                return True
            if now < self._retry_at:
                return False
            try:
                await self._fetch(reason="unauthorized")
            except AuthFailedError as error:
                self._renewal_failed(error)
                return False
            return True

    def describe(self) -> str:
        project = f", project id {self.project_id}" if self.project_id else ""
        return self._source.describe() + project

    def __repr__(self) -> str:
        return f"<KeystoneAuthenticator {self.describe()}>"


def keystone_authenticator(
    cloud: str | None, *, region: str | None = None, clock: Clock = time.time
) -> KeystoneAuthenticator:
    """The authenticator for `--cloud NAME` (see `load_cloud`); nothing is sent until `prepare`."""
    source = load_cloud(cloud, region=region)
    log.info(
        "auth.mode_selected",
        mode=MODE_KEYSTONE,
        source=f"cloud {source.name}",
        auth_type=source.auth_type,
    )
    return KeystoneAuthenticator(source, clock=clock)
