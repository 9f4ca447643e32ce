"""Everything that varies by cloud: one package per cloud family, chosen once per run here.

- `huawei/`: IMS on Huawei Cloud and the other clouds on Huawei's stack (`--provider`):
  AK/SK signing, tokens, IAM, the credentials file, the IMS service, its codes and hints.
- `openstack/`: Glance v2 with Keystone (`--cloud`, clouds.yaml).

The rest of the tool asks a `Cloud` (`base.py`) for credentials, the image service, the
attribute rules and the failure hints, and names no cloud itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from batch_ims.clouds.base import Cloud
from batch_ims.errors import UsageError
from batch_ims.settings import RunSettings

if TYPE_CHECKING:  # numpy comes with the manifest reader
    from batch_ims.manifest.targets import TargetCells

__all__ = ["Cloud", "choose_cloud", "cloud_name", "scoped_cloud"]


def cloud_name(settings: RunSettings, env: Mapping[str, str]) -> str | None:
    """`--cloud`, else `OS_CLOUD` unless a Huawei-stack option (endpoint, region, profile,
    provider) was given."""
    if settings.cloud:
        return settings.cloud
    huawei_options = (settings.endpoint, settings.region, settings.profile, settings.provider)
    if all(option is None for option in huawei_options):
        return env.get("OS_CLOUD") or None
    return None


def choose_cloud(settings: RunSettings, env: Mapping[str, str]) -> Cloud:
    """The one cloud of this run, from the settings and the environment; nothing is read
    from the network and no credentials are loaded yet."""
    name = cloud_name(settings, env)
    if name is not None:
        if settings.profile is not None or settings.provider is not None:
            raise UsageError(
                "--profile and --provider are for Huawei-stack clouds; with --cloud give neither"
            )
        from batch_ims.clouds.openstack.cloud import OpenStackCloud

        return OpenStackCloud(name, region=settings.region, endpoint=settings.endpoint)
    from batch_ims.clouds.huawei.cloud import HuaweiCloud

    return HuaweiCloud(
        env=env,
        provider=settings.provider,
        region=settings.region,
        endpoint=settings.endpoint,
        profile=settings.profile,
    )


def scoped_cloud(cloud: Cloud, cells: TargetCells, manifest: Path) -> Cloud:
    """The cloud for the manifest rows with these target cells; a refusal names the cell."""
    try:
        return cloud.scoped(cells.values)
    except UsageError as exc:
        raise UsageError(f"{cells.where(str(manifest))}: {exc}") from exc
