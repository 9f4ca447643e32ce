"""The clouds built on Huawei's stack, by name: where IMS and IAM answer for each region.

Sources: each provider's "Regions and Endpoints" page, and the region tables of Huawei's own
SDK (`huaweicloudsdkims` `ImsRegion`, `huaweicloudsdkcore`'s IAM endpoint map), which sends
IAM calls to the region's own IAM where one exists and to the global IAM otherwise.

An endpoint given by the user (`--endpoint`, `HUAWEICLOUD_SDK_IAM_ENDPOINT`) wins over the
table; either may hold `{region}`, which makes it a template (Huawei Cloud Stack, where each
installation has its own domain).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from yarl import URL

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import UsageError
from batch_ims.manifest.rules import AttributeRules

REGION_PLACEHOLDER = "{region}"


@dataclass(frozen=True, slots=True)
class Provider:
    """One cloud on Huawei's stack.

    `ims` and `iam` are URL templates with `{region}`; `iam_regions` lists the regions with
    an IAM of their own (elsewhere `global_iam` answers); `regions` are the documented
    regions (any name matching `region_pattern` is accepted, for regions opened later).
    """

    name: str
    title: str
    ims: str | None
    iam: str | None
    region_pattern: re.Pattern[str]
    regions: tuple[str, ...] = ()
    iam_regions: frozenset[str] = frozenset()
    global_iam: str | None = None
    rules: AttributeRules = IMS
    aliases: tuple[str, ...] = ()
    overrides: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def check_region(self, region: str) -> str:
        if not self.region_pattern.fullmatch(region):
            shown = ", ".join(self.regions[:4]) or "the installation's region names"
            raise UsageError(
                f"--region {region!r} is not a {self.title} region name (e.g. {shown}); "
                "see README 'Clouds and providers'"
            )
        return region

    def ims_endpoint(self, region: str) -> URL:
        region = self.check_region(region)
        if region in self.overrides:
            return URL(self.overrides[region][0])
        if self.ims is None:
            raise UsageError(
                f"--provider {self.name} has no public endpoints: give --endpoint "
                "'https://ims.{region}.YOUR-DOMAIN' (a template) or the full URL"
            )
        return URL(self.ims.replace(REGION_PLACEHOLDER, region))

    def iam_endpoint(self, region: str | None) -> URL | None:
        """The IAM this provider answers on for `region`; None when the user must say."""
        if region is not None and region in self.overrides:
            return URL(self.overrides[region][1])
        if region is not None and self.iam is not None and region in self.iam_regions:
            return URL(self.iam.replace(REGION_PLACEHOLDER, region))
        if self.global_iam is not None:
            return URL(self.global_iam)
        if region is not None and self.iam is not None and not self.iam_regions:
            return URL(self.iam.replace(REGION_PLACEHOLDER, region))
        return None


_HUAWEI_REGIONS = (
    "cn-north-1", "cn-north-2", "cn-north-4", "cn-north-9", "cn-east-2", "cn-east-3",
    "cn-east-4", "cn-east-5", "cn-south-1", "cn-south-2", "cn-south-4", "cn-southwest-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "af-south-1",
    "sa-brazil-1", "la-north-2", "la-south-2", "na-mexico-1", "me-east-1", "ae-ad-1",
    "tr-west-1", "eu-west-0", "my-kualalumpur-1", "ru-moscow-1",
)  # fmt: skip
_HUAWEI_IAM_REGIONS = frozenset(_HUAWEI_REGIONS) - {"cn-south-4"}

HUAWEICLOUD: Final = Provider(
    name="huaweicloud",
    title="Huawei Cloud",
    ims="https://ims.{region}.myhuaweicloud.com",
    iam="https://iam.{region}.myhuaweicloud.com",
    region_pattern=re.compile(r"[a-z]{2}-[a-z]+-\d{1,3}"),
    regions=_HUAWEI_REGIONS,
    iam_regions=_HUAWEI_IAM_REGIONS,
    global_iam="https://iam.myhuaweicloud.com",
    aliases=("huawei", "hwc"),
)
HUAWEICLOUD_EU: Final = Provider(
    name="huaweicloud-eu",
    title="Huawei Cloud Europe",
    ims="https://ims.{region}.myhuaweicloud.eu",
    iam="https://iam.{region}.myhuaweicloud.eu",
    region_pattern=re.compile(r"eu-[a-z]+-1\d\d"),
    regions=("eu-west-101",),
    aliases=("hce",),
)
OTC: Final = Provider(
    name="otc",
    title="Open Telekom Cloud",
    ims="https://ims.{region}.otc.t-systems.com",
    iam="https://iam.{region}.otc.t-systems.com",
    region_pattern=re.compile(r"eu-(de|nl|ch\d)"),
    regions=("eu-de", "eu-nl", "eu-ch2"),
    aliases=("opentelekomcloud", "t-systems"),
    overrides={  # the Swiss region lives under its own domain, with IAM at iam-pub
        "eu-ch2": (
            "https://ims.eu-ch2.sc.otc.t-systems.com",
            "https://iam-pub.eu-ch2.sc.otc.t-systems.com",
        ),
    },
)
FLEXIBLE_ENGINE: Final = Provider(
    name="flexibleengine",
    title="Orange Flexible Engine",
    ims="https://ims.{region}.prod-cloud-ocb.orange-business.com",
    iam="https://iam.{region}.prod-cloud-ocb.orange-business.com",
    region_pattern=re.compile(r"(eu|na)-[a-z]+-\d"),
    regions=("eu-west-0", "eu-west-1", "na-east-0"),
    aliases=("orange", "fe"),
)
CLOUD_RU: Final = Provider(
    name="cloudru",
    title="Cloud.ru (Advanced)",
    ims="https://ims.{region}.hc.sbercloud.ru",
    iam="https://iam.{region}.hc.sbercloud.ru",
    region_pattern=re.compile(r"ru-[a-z]+-\d"),
    regions=("ru-moscow-1",),
    aliases=("sbercloud",),
)
STACK: Final = Provider(
    name="stack",
    title="Huawei Cloud Stack",
    ims=None,
    iam=None,
    region_pattern=re.compile(r"[a-z0-9][a-z0-9-]{0,62}"),
    aliases=("hcs",),
)

PROVIDERS: Final = (HUAWEICLOUD, HUAWEICLOUD_EU, OTC, FLEXIBLE_ENGINE, CLOUD_RU, STACK)
DEFAULT: Final = HUAWEICLOUD
_BY_NAME: Final = {n: p for p in PROVIDERS for n in (p.name, *p.aliases)}
# regions that name one provider only; a name two providers share (eu-west-0, ru-moscow-1)
# stays with the default, and the other is chosen with --provider
_INFERRED: Final = (HUAWEICLOUD_EU, OTC)


def provider_named(name: str) -> Provider:
    try:
        return _BY_NAME[name.strip().lower()]
    except KeyError:
        names = ", ".join(p.name for p in PROVIDERS)
        raise UsageError(f"--provider {name!r} is not one of: {names}") from None


def infer_provider(region: str | None) -> Provider:
    """The provider a region name belongs to, else the default (Huawei Cloud)."""
    if region is not None:
        for provider in _INFERRED:
            if provider.region_pattern.fullmatch(region):
                return provider
    return DEFAULT


def choose_provider(name: str | None, region: str | None) -> Provider:
    return provider_named(name) if name else infer_provider(region)


def fill_template(text: str, region: str | None, *, name: str) -> str:
    """`text` with `{region}` filled in; a template with no region is a usage error."""
    if REGION_PLACEHOLDER not in text:
        return text
    if not region:
        raise UsageError(f"{name} {text!r} holds {{region}}: give --region too")
    return text.replace(REGION_PLACEHOLDER, region)
