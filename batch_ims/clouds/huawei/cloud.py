"""The Huawei-stack cloud of one run: its provider, IMS endpoint, credentials and hints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from yarl import URL

from batch_ims.clouds.auth import Authenticator
from batch_ims.clouds.base import Explained, Target
from batch_ims.clouds.huawei import hints
from batch_ims.clouds.huawei.providers import Provider, choose_provider, fill_template
from batch_ims.errors import UsageError
from batch_ims.manifest.rules import AttributeRules
from batch_ims.transport.endpoint import check_endpoint

_EXAMPLE = "https://ims.cn-north-4.myhuaweicloud.com"


class HuaweiCloud:
    """IMS on Huawei Cloud or another cloud on Huawei's stack (`--provider`).

    The IMS endpoint is `--endpoint` (a URL, or a template with `{region}`), else the
    provider's for `--region`, else the provider's for the `--profile`'s region."""

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
        self.provider: Provider = choose_provider(provider, region or self._endpoint_region())

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

    def target(self) -> Target:
        from batch_ims.clouds.huawei.ims import ImsService
        from batch_ims.clouds.huawei.resolve import resolve_authenticator

        region = self._settings_region()
        if region is not None:
            self.provider.check_region(region)
        endpoint = self.image_endpoint(region)
        auth = resolve_authenticator(
            env=self._env,
            profile=self._profile,
            region=region,
            endpoint=endpoint,
            provider=self.provider,
        )
        service = ImsService(endpoint)
        return Target(auth, lambda: (endpoint, service))

    def explain(self) -> Explained:
        from batch_ims.clouds.huawei.resolve import load_auth_settings

        region = self._settings_region()
        endpoint = self.image_endpoint(region)
        settings = load_auth_settings(
            env=self._env,
            profile=self._profile,
            region=region,
            endpoint=endpoint,
            provider=self.provider,
        )
        iam = str(settings.iam_endpoint) if settings.iam_endpoint else "(none needed)"
        return Explained(
            cloud=f"{self.provider.name} ({self.provider.title})",
            service="ims",
            image_endpoint=str(endpoint),
            auth_endpoint=iam,
            auth_mode=f"{settings.mode} from {settings.source}",
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
