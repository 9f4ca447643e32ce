"""Every provider on Huawei's stack resolves IMS and IAM endpoints as its documentation says."""

from __future__ import annotations

import pytest
from yarl import URL

from batch_ims.clouds.huawei.cloud import HuaweiCloud
from batch_ims.clouds.huawei.providers import (
    CLOUD_RU,
    FLEXIBLE_ENGINE,
    HUAWEICLOUD,
    HUAWEICLOUD_EU,
    OTC,
    PROVIDERS,
    STACK,
    choose_provider,
    infer_provider,
    provider_named,
)
from batch_ims.errors import UsageError

# (provider, region, IMS endpoint, IAM endpoint), from each provider's "Regions and
# Endpoints" page and the region tables of Huawei's SDK
DOCUMENTED = [
    ("huaweicloud", "cn-north-4", "https://ims.cn-north-4.myhuaweicloud.com",
     "https://iam.cn-north-4.myhuaweicloud.com"),
    ("huaweicloud", "ap-southeast-1", "https://ims.ap-southeast-1.myhuaweicloud.com",
     "https://iam.ap-southeast-1.myhuaweicloud.com"),
    ("huaweicloud", "af-south-1", "https://ims.af-south-1.myhuaweicloud.com",
     "https://iam.af-south-1.myhuaweicloud.com"),
    ("huaweicloud", "cn-south-4", "https://ims.cn-south-4.myhuaweicloud.com",
     "https://iam.myhuaweicloud.com"),  # no IAM of its own: the global one
    ("huaweicloud-eu", "eu-west-101", "https://ims.eu-west-101.myhuaweicloud.eu",
     "https://iam.eu-west-101.myhuaweicloud.eu"),
    ("otc", "eu-de", "https://ims.eu-de.otc.t-systems.com",
     "https://iam.eu-de.otc.t-systems.com"),
    ("otc", "eu-nl", "https://ims.eu-nl.otc.t-systems.com",
     "https://iam.eu-nl.otc.t-systems.com"),
    ("otc", "eu-ch2", "https://ims.eu-ch2.sc.otc.t-systems.com",
     "https://iam-pub.eu-ch2.sc.otc.t-systems.com"),
    ("flexibleengine", "eu-west-0", "https://ims.eu-west-0.prod-cloud-ocb.orange-business.com",
     "https://iam.eu-west-0.prod-cloud-ocb.orange-business.com"),
    ("flexibleengine", "na-east-0", "https://ims.na-east-0.prod-cloud-ocb.orange-business.com",
     "https://iam.na-east-0.prod-cloud-ocb.orange-business.com"),
    ("cloudru", "ru-moscow-1", "https://ims.ru-moscow-1.hc.sbercloud.ru",
     "https://iam.ru-moscow-1.hc.sbercloud.ru"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "region", "ims", "iam"), DOCUMENTED)
def test_documented_endpoints(name: str, region: str, ims: str, iam: str) -> None:
    provider = provider_named(name)
    assert (provider.ims_endpoint(region), provider.iam_endpoint(region)) == (URL(ims), URL(iam))


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("cn-north-4", HUAWEICLOUD),
        ("eu-de", OTC),
        ("eu-ch2", OTC),
        ("eu-west-101", HUAWEICLOUD_EU),
        ("eu-west-0", HUAWEICLOUD),  # shared with Flexible Engine: the default keeps it
        ("ru-moscow-1", HUAWEICLOUD),  # shared with Cloud.ru likewise
        (None, HUAWEICLOUD),
    ],
)
def test_provider_inferred_from_the_region(region: str | None, expected: object) -> None:
    assert infer_provider(region) is expected


def test_aliases_and_explicit_names_win_over_the_region() -> None:
    assert choose_provider("orange", "eu-west-0") is FLEXIBLE_ENGINE
    assert choose_provider("SberCloud", None) is CLOUD_RU
    assert choose_provider("hcs", "dc1") is STACK


def test_unknown_provider_names_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="huaweicloud, huaweicloud-eu, otc, flexibleengine"):
        provider_named("aws")


def test_a_region_of_another_shape_is_refused_with_examples() -> None:
    with pytest.raises(UsageError, match=r"not a Open Telekom Cloud region name \(e.g. eu-de"):
        OTC.ims_endpoint("cn-north-4")


def test_stack_has_no_public_endpoints_and_says_how_to_give_one() -> None:
    with pytest.raises(UsageError, match=r"--endpoint 'https://ims.\{region\}"):
        STACK.ims_endpoint("dc1")
    assert STACK.iam_endpoint("dc1") is None


def test_every_provider_has_a_distinct_name_and_alias() -> None:
    names = [n for p in PROVIDERS for n in (p.name, *p.aliases)]
    assert len(names) == len(set(names))


def _cloud(**options: str | None) -> HuaweiCloud:
    values: dict[str, str | None] = {"provider": None, "region": None, "endpoint": None}
    values.update(options)
    return HuaweiCloud(env={}, profile=None, **values)


def test_an_endpoint_template_is_filled_with_the_region() -> None:
    cloud = _cloud(provider="stack", endpoint="https://ims.{region}.cloud.example.com")
    assert cloud.image_endpoint("dc-1") == URL("https://ims.dc-1.cloud.example.com")


def test_an_endpoint_template_without_a_region_is_refused() -> None:
    cloud = _cloud(provider="stack", endpoint="https://ims.{region}.cloud.example.com")
    with pytest.raises(UsageError, match="holds \\{region\\}: give --region too"):
        cloud.image_endpoint(None)


def test_the_endpoint_host_names_the_provider_when_no_region_is_given() -> None:
    assert _cloud(endpoint="https://ims.eu-de.otc.t-systems.com").provider is OTC


def test_explain_names_both_endpoints_without_sending() -> None:
    env = {"HUAWEICLOUD_SDK_AK": "AKEXAMPLE0000000", "HUAWEICLOUD_SDK_SK": "s" * 40}
    cloud = HuaweiCloud(env=env, provider=None, region="eu-de", endpoint=None, profile=None)
    explained = cloud.explain()
    assert (explained.image_endpoint, explained.auth_endpoint, explained.auth_mode) == (
        "https://ims.eu-de.otc.t-systems.com",
        "https://iam.eu-de.otc.t-systems.com",
        "aksk from environment",
    )


def test_stack_without_an_iam_endpoint_needs_one_for_a_project_lookup() -> None:
    from batch_ims.clouds.huawei.resolve import load_auth_settings
    from batch_ims.errors import AuthConfigError

    env = {"HUAWEICLOUD_SDK_AK": "AKEXAMPLE0000000", "HUAWEICLOUD_SDK_SK": "s" * 40}
    with pytest.raises(AuthConfigError, match="set HUAWEICLOUD_SDK_IAM_ENDPOINT"):
        load_auth_settings(env=env, profile=None, region="dc1", provider=STACK)
    with_project = {**env, "HUAWEICLOUD_SDK_PROJECT_ID": "0" * 32}
    settings = load_auth_settings(env=with_project, profile=None, region="dc1", provider=STACK)
    assert settings.iam_endpoint is None
