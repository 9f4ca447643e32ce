"""The OpenStack cloud of one run: Keystone credentials from clouds.yaml, Glance v2 images."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from yarl import URL

from batch_ims.clouds.auth import Authenticator, AuthFailedError
from batch_ims.clouds.base import Explained, Target
from batch_ims.clouds.openstack import hints
from batch_ims.clouds.service import ImageService
from batch_ims.errors import UsageError
from batch_ims.manifest.rules import AttributeRules
from batch_ims.transport.endpoint import check_endpoint

_GLANCE = "https://image.example.com:9292"


class OpenStackCloud:
    """`--cloud NAME` (or `OS_CLOUD`): chosen by openstacksdk's config loader as the
    `openstack` CLI does; the image endpoint comes from the Keystone catalog after sign-in,
    unless `--endpoint` gives it."""

    name = "openstack"
    target_columns = ("cloud",)

    def __init__(self, cloud: str, *, region: str | None, endpoint: str | None) -> None:
        self._cloud = cloud
        self._region = region
        self._override = (
            check_endpoint(endpoint, name="--endpoint", example=_GLANCE) if endpoint else None
        )

    def scoped(self, cells: Mapping[str, str]) -> OpenStackCloud:
        """Another cloud of clouds.yaml, with its own credentials, token and catalog."""
        name = cells.get("cloud")
        if not name or name == self._cloud:
            return self
        if self._override is not None:
            raise UsageError("a cloud column needs each cloud's catalog: give no --endpoint")
        return OpenStackCloud(name, region=self._region, endpoint=None)

    @property
    def rules(self) -> AttributeRules:
        from batch_ims.clouds.openstack.rules import bundled_rules

        return bundled_rules()

    def target(self) -> Target:
        from batch_ims.clouds.openstack.glance import GlanceService
        from batch_ims.clouds.openstack.keystone import keystone_authenticator

        auth = keystone_authenticator(self._cloud, region=self._region)
        override = self._override

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

    def explain(self) -> Explained:
        from batch_ims.clouds.openstack.keystone import load_cloud

        source = load_cloud(self._cloud, region=self._region)
        image = str(self._override) if self._override else "(the catalog's, after sign-in)"
        return Explained(
            cloud=f"openstack (cloud {source.name})",
            service="glance",
            image_endpoint=image,
            auth_endpoint=source.auth_url or "(none)",
            auth_mode=f"keystone {source.auth_type}",
            scope=f"cloud {source.name}" + (f" region {source.region}" if source.region else ""),
        )

    def failure_hint(
        self,
        *,
        code: str,
        message: str,
        server_date: str | None,
        now: datetime,
        auth: Authenticator,
    ) -> str:
        return hints.failure_hint(
            code=code,
            message=message,
            cloud=self._cloud,
            region=auth.region,
            project_id=auth.project_id,
        )
