"""Which image service a run talks to, from the settings alone: IMS, or Glance for `--cloud`.

Kept apart from `target` (credentials, endpoints), which imports the HTTP client: `plan`
without `--diff` needs only the attribute rules of the service, not the network side.
"""

from __future__ import annotations

from collections.abc import Mapping

from batch_ims.manifest.rules import IMS, AttributeRules
from batch_ims.settings import RunSettings


def cloud_name(settings: RunSettings, env: Mapping[str, str]) -> str | None:
    """`--cloud`, else `OS_CLOUD` unless an IMS option (endpoint, region, profile) was given."""
    if settings.cloud:
        return settings.cloud
    if settings.endpoint is None and settings.region is None and settings.profile is None:
        return env.get("OS_CLOUD") or None
    return None


def attribute_rules(settings: RunSettings, env: Mapping[str, str]) -> AttributeRules:
    """The validation rules of the service the run talks to (Glance's from its schema)."""
    if cloud_name(settings, env) is None:
        return IMS
    from batch_ims.clouds.openstack.rules import bundled_rules

    return bundled_rules()
