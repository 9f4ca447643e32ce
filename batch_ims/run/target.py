"""Which image service a run talks to, with which credentials: IMS, or Glance via Keystone.

IMS (the default): `--endpoint` or `--region`, credentials as `auth.resolve` finds them.
OpenStack: `--cloud NAME` (or `cloud = "NAME"` in a job file, or `OS_CLOUD` when no IMS
option is given), chosen by openstacksdk's config loader as the `openstack` CLI does; the
image endpoint comes from the Keystone catalog after sign-in, unless `--endpoint` gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from yarl import URL

from batch_ims.clouds.huawei import Authenticator, AuthFailedError, resolve_authenticator
from batch_ims.clouds.huawei.ims import ImsService, resolve_endpoint
from batch_ims.clouds.service import ImageService
from batch_ims.errors import UsageError
from batch_ims.run.service_choice import cloud_name
from batch_ims.settings import RunSettings
from batch_ims.transport.endpoint import check_endpoint

_GLANCE = "https://image.example.com:9292"

__all__ = ["Target", "resolve_target"]


@dataclass(frozen=True, slots=True)
class Target:
    """Credentials, and how to find the service once they are prepared (signed in)."""

    auth: Authenticator
    locate: Callable[[], tuple[URL, ImageService]]


def resolve_target(settings: RunSettings, env: Mapping[str, str]) -> Target:
    cloud = cloud_name(settings, env)
    if cloud is not None:
        return _openstack(settings, cloud)
    if settings.endpoint is None and settings.region is None and settings.profile is not None:
        auth = resolve_authenticator(env=dict(env), profile=settings.profile, region=None)
        endpoint = resolve_endpoint(None, auth.region)
    else:
        endpoint = resolve_endpoint(settings.endpoint, settings.region)
        auth = resolve_authenticator(
            env=dict(env), profile=settings.profile, region=settings.region, endpoint=endpoint
        )
    service = ImsService(endpoint)
    return Target(auth, lambda: (endpoint, service))


def _openstack(settings: RunSettings, cloud: str) -> Target:
    from batch_ims.clouds.openstack.glance import GlanceService
    from batch_ims.clouds.openstack.keystone import KeystoneAuthenticator, load_cloud

    if settings.profile is not None:
        raise UsageError("--profile is for Huawei Cloud credentials; with --cloud give neither")
    override = None
    if settings.endpoint:
        override = check_endpoint(settings.endpoint, name="--endpoint", example=_GLANCE)
    source = load_cloud(
        cloud, region=settings.region, timeout_s=settings.timeout, plain_http=settings.insecure
    )
    auth = KeystoneAuthenticator(source)

    def locate() -> tuple[URL, ImageService]:
        try:
            url = override or check_endpoint(
                str(auth.image_endpoint()),
                name="the catalog's image endpoint",
                example=_GLANCE,
            )
        except UsageError as exc:  # every image is then reported, as after a refused sign-in
            raise AuthFailedError(str(exc)) from exc
        return url, GlanceService(url)

    return Target(auth, locate)
