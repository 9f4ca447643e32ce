"""The Huawei-stack cloud of one run: its provider, IMS endpoint, credentials and hints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from yarl import URL

from batch_ims.clouds.auth import Authenticator
from batch_ims.clouds.base import Explained, Target
from batch_ims.clouds.huawei import hints
from batch_ims.clouds.huawei.names import ENV_PROJECT_ID
from batch_ims.clouds.huawei.providers import Provider, choose_provider, fill_template
from batch_ims.errors import UsageError
from batch_ims.manifest.rules import AttributeRules
from batch_ims.transport.endpoint import check_endpoint

if TYPE_CHECKING:  # the network side (aiohttp) is imported only when credentials are loaded
    from batch_ims.clouds.huawei.resolve import AuthSettings

_EXAMPLE = "https://ims.cn-north-4.myhuaweicloud.com"
_PROJECT_ID = re.compile(r"[0-9a-f]{32}")


class HuaweiCloud:
    """IMS on Huawei Cloud or another cloud on Huawei's stack (`--provider`).

    The IMS endpoint is `--endpoint` (a URL, or a template with `{region}`), else the
    provider's for `--region`, else the provider's for the `--profile`'s region."""

    target_columns = ("region", "project_id")

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        provider: str | None,
        region: str | None,
        endpoint: str | None,
        profile: str | None,
    ) -> None:
        self._env = env
        self._region = region
        self._endpoint = endpoint
        self._profile = profile
        self._provider_name = provider
        self._cached: tuple[URL, AuthSettings] | None = None
        self.provider: Provider = choose_provider(provider, region or self._endpoint_region())

    def scoped(self, cells: Mapping[str, str]) -> HuaweiCloud:
        """The same credentials for another region and/or project: the region's endpoints
        (an `--endpoint` template is filled with it), the project id as if set in
        HUAWEICLOUD_SDK_PROJECT_ID."""
        if not cells:
            return self
        region = cells.get("region", self._region)
        project = cells.get("project_id")
        if project is not None and not _PROJECT_ID.fullmatch(project):
            raise UsageError(f"{project!r} is not a project id (32 hexadecimal digits)")
        if region is not None:
            choose_provider(self._provider_name, region).check_region(region)
        if "region" in cells and self._endpoint and "{" not in self._endpoint:
            raise UsageError(
                "a region column needs endpoints per region: give --region or an --endpoint "
                "template with {region}, not one fixed --endpoint"
            )
        env = dict(self._env)
        if project is not None:
            env[ENV_PROJECT_ID] = project
        return HuaweiCloud(
            env=env,
            provider=self._provider_name,
            region=region,
            endpoint=self._endpoint,
            profile=self._profile,
        )

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def rules(self) -> AttributeRules:
        return self.provider.rules

    def _endpoint_region(self) -> str | None:
        from batch_ims.clouds.huawei.resolve import region_from_endpoint

        if self._endpoint is None or "{" in self._endpoint:
            return None
        return region_from_endpoint(URL(self._endpoint))

    def image_endpoint(self, region: str | None) -> URL:
        """`--endpoint` (its template filled), else the provider's IMS for the region."""
        if self._endpoint:
            text = fill_template(self._endpoint, region, name="--endpoint")
            return check_endpoint(text, name="--endpoint", example=_EXAMPLE)
        if region:
            return self.provider.ims_endpoint(region)
        raise UsageError(
            "no endpoint: give --endpoint URL or --region NAME (e.g. cn-north-4), "
            "or a --profile with a region"
        )

    def _settings_region(self) -> str | None:
        """The region the credentials and the endpoint are for, before any is read."""
        if self._region is not None or self._profile is None or self._endpoint is not None:
            return self._region
        from batch_ims.clouds.huawei.credfile import credentials_path, read_profile

        return read_profile(credentials_path(self._env), self._profile).region

    def _resolved(self) -> tuple[URL, AuthSettings]:
        """The IMS endpoint and the credentials' settings, read once (the credentials file
        is read, and its mode checked, once per target)."""
        if self._cached is None:
            from batch_ims.clouds.huawei.resolve import load_auth_settings

            region = self._settings_region()
            if region is not None:
                self.provider.check_region(region)
            endpoint = self.image_endpoint(region)
            settings = load_auth_settings(
                env=self._env,
                profile=self._profile,
                region=region,
                endpoint=endpoint,
                provider=self.provider,
            )
            self._cached = (endpoint, settings)
        return self._cached

    def target(self) -> Target:
        from batch_ims.clouds.huawei.ims import ImsService
        from batch_ims.clouds.huawei.resolve import authenticate

        endpoint, settings = self._resolved()
        auth = authenticate(settings, self._env)
        service = ImsService(endpoint)
        return Target(auth, lambda: (endpoint, service))

    def explain(self) -> Explained:
        endpoint, settings = self._resolved()
        iam = str(settings.iam_endpoint) if settings.iam_endpoint else "(none needed)"
        project = settings.project_id
        return Explained(
            cloud=f"{self.provider.name} ({self.provider.title})",
            service="ims",
            image_endpoint=str(endpoint),
            auth_endpoint=iam,
            auth_mode=f"{settings.mode} from {settings.source}",
            scope=f"project {project}" if project else f"region {settings.region or '?'}",
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
            server_date=server_date,
            now=now,
            mode=auth.mode,
            region=auth.region,
            project_id=auth.project_id,
        )
