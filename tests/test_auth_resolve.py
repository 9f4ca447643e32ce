"""Choosing the auth mode from the environment and the credentials file (nothing sent here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yarl
from structlog.testing import capture_logs

from batch_ims.clouds.huawei import load_auth_settings, resolve_authenticator
from batch_ims.clouds.huawei.resolve import region_from_endpoint
from batch_ims.errors import AuthConfigError

AKSK = {"HUAWEICLOUD_SDK_AK": "AKTESTKEY0001", "HUAWEICLOUD_SDK_SK": "sk-value-1"}
IAM = {
    "BATCH_IMS_IAM_USER": "ops",
    "BATCH_IMS_IAM_PASSWORD": "pw-value-1",
    "BATCH_IMS_IAM_DOMAIN": "acme",
}
TOKEN = {"BATCH_IMS_AUTH_TOKEN": "token-value-1"}


def write_credentials(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "credentials"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_token_wins_over_iam_and_aksk_and_logs_what_it_ignored() -> None:
    env = {**TOKEN, **IAM, **AKSK}
    with capture_logs() as logs:
        auth = resolve_authenticator(env=env, profile=None, region="cn-north-4")
    assert auth.mode == "token"
    selected = [e for e in logs if e["event"] == "auth.mode_selected"]
    assert selected[0]["ignored"] == [*IAM, "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"]


def test_iam_password_wins_over_aksk() -> None:
    auth = resolve_authenticator(env={**IAM, **AKSK}, profile=None, region="cn-north-4")
    assert auth.mode == "iam-password"


def test_aksk_from_environment_with_project_id() -> None:
    env = {**AKSK, "HUAWEICLOUD_SDK_PROJECT_ID": "p-123"}
    auth = resolve_authenticator(env=env, profile=None, region="cn-north-4")
    assert (auth.mode, auth.project_id, auth.region) == ("aksk", "p-123", "cn-north-4")


def test_security_token_makes_the_keys_temporary() -> None:
    env = {**AKSK, "HUAWEICLOUD_SDK_SECURITY_TOKEN": "sts-value"}
    auth = resolve_authenticator(env=env, profile=None, region=None)
    assert auth.mode == "temporary-aksk"


def test_empty_variables_count_as_unset() -> None:
    env = {**AKSK, "BATCH_IMS_AUTH_TOKEN": "", "BATCH_IMS_IAM_USER": "  "}
    assert resolve_authenticator(env=env, profile=None, region=None).mode == "aksk"


@pytest.mark.parametrize(
    ("env", "named", "not_named"),
    [
        ({"HUAWEICLOUD_SDK_AK": "AK1"}, "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_AK missing"),
        ({"HUAWEICLOUD_SDK_SK": "s"}, "HUAWEICLOUD_SDK_AK missing", "HUAWEICLOUD_SDK_SK missing"),
        (
            {"HUAWEICLOUD_SDK_SECURITY_TOKEN": "t"},
            "HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK missing",
            "",
        ),
        (
            {"BATCH_IMS_IAM_USER": "ops", "BATCH_IMS_IAM_DOMAIN": "acme"},
            "set BATCH_IMS_IAM_PASSWORD",
            "BATCH_IMS_IAM_DOMAIN",
        ),
        (
            {"BATCH_IMS_IAM_PASSWORD": "pw"},
            "set BATCH_IMS_IAM_USER, BATCH_IMS_IAM_DOMAIN",
            "",
        ),
    ],
)
def test_partial_settings_name_the_missing_variable(
    env: dict[str, str], named: str, not_named: str
) -> None:
    with pytest.raises(AuthConfigError) as caught:
        resolve_authenticator(env=env, profile=None, region="cn-north-4")
    assert named in str(caught.value)
    if not_named:
        assert not_named not in str(caught.value)


def test_iam_sign_in_without_project_or_region_is_refused() -> None:
    with pytest.raises(AuthConfigError, match="HUAWEICLOUD_SDK_PROJECT_ID or --region"):
        resolve_authenticator(env=IAM, profile=None, region=None)


def test_no_credentials_at_all_says_what_to_set() -> None:
    with pytest.raises(AuthConfigError) as caught:
        resolve_authenticator(env={}, profile=None, region=None)
    text = str(caught.value)
    assert text.startswith("no credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK")
    assert "BATCH_IMS_AUTH_TOKEN" in text
    assert "\n" not in text


def test_profile_supplies_keys_project_and_region(tmp_path: Path) -> None:
    path = write_credentials(
        tmp_path,
        "[basic]\nak = AKFILE000001\nsk = file-sk\nproject_id = p-file\nregion = ap-southeast-1\n",
    )
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    settings = load_auth_settings(env=env, profile="basic", region=None)
    assert (settings.ak, settings.sk, settings.project_id, settings.region) == (
        "AKFILE000001",
        "file-sk",
        "p-file",
        "ap-southeast-1",
    )
    assert settings.source == "profile 'basic'"


def test_profile_security_token_makes_temporary_keys(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "[tmp]\nak = AKTMP0000001\nsk = s\nsecurity_token = st\n")
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    settings = load_auth_settings(env=env, profile="tmp", region="cn-north-4")
    assert (settings.mode, settings.security_token) == ("temporary-aksk", "st")


def test_environment_wins_over_the_profile(tmp_path: Path) -> None:
    path = write_credentials(
        tmp_path,
        "[basic]\nak = AKFILE000001\nsk = file-sk\nsecurity_token = file-st\n"
        "project_id = p-file\nregion = ap-southeast-1\niam_endpoint = https://iam.file.example\n",
    )
    env = {
        **AKSK,
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path),
        "HUAWEICLOUD_SDK_PROJECT_ID": "p-env",
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": "https://iam.env.example",
    }
    settings = load_auth_settings(env=env, profile="basic", region="cn-north-4")
    assert (settings.ak, settings.sk, settings.security_token) == (
        "AKTESTKEY0001",
        "sk-value-1",
        None,
    )
    assert (settings.project_id, settings.region) == ("p-env", "cn-north-4")
    assert settings.iam_endpoint == yarl.URL("https://iam.env.example")


def test_profile_iam_endpoint_is_used_when_the_variable_is_unset(tmp_path: Path) -> None:
    path = write_credentials(
        tmp_path, "[basic]\nak = AK0000000001\nsk = s\niam_endpoint = https://iam.file.example\n"
    )
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    settings = load_auth_settings(env=env, profile="basic", region=None)
    assert settings.iam_endpoint == yarl.URL("https://iam.file.example")


def test_default_credentials_path_is_under_home(tmp_path: Path) -> None:
    folder = tmp_path / ".huaweicloud"
    folder.mkdir()
    write_credentials(folder, "[basic]\nak = AKHOME000001\nsk = s\n")
    settings = load_auth_settings(env={"HOME": str(tmp_path)}, profile="basic", region=None)
    assert settings.ak == "AKHOME000001"


def test_unknown_profile_lists_the_profiles_there(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "[basic]\nak = A\nsk = s\n[prod]\nak = B\nsk = t\n")
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    with pytest.raises(AuthConfigError) as caught:
        load_auth_settings(env=env, profile="staging", region=None)
    assert str(caught.value) == (
        f"profile 'staging' not found in credentials file {path} (profiles: basic, prod)"
    )


def test_missing_credentials_file_is_a_config_error(tmp_path: Path) -> None:
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(tmp_path / "nope")}
    with pytest.raises(AuthConfigError, match="does not exist"):
        load_auth_settings(env=env, profile="basic", region=None)


def test_profile_with_ak_but_no_sk_names_the_missing_key(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "[basic]\nak = AK0000000001\n")
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    with pytest.raises(AuthConfigError, match="has no 'sk'"):
        load_auth_settings(env=env, profile="basic", region=None)


def test_unparsable_file_does_not_quote_the_offending_line(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "sk = SECRET-IN-FILE-77\n[basic]\n")
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    with pytest.raises(AuthConfigError) as caught:
        load_auth_settings(env=env, profile="basic", region=None)
    assert "MissingSectionHeaderError at line 1" in str(caught.value)
    assert "SECRET-IN-FILE-77" not in str(caught.value)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_warns_when_the_file_is_readable_by_group_or_others(
    tmp_path: Path, mode: int, warned: bool
) -> None:
    path = write_credentials(tmp_path, "[basic]\nak = AK0000000001\nsk = s\n", mode=mode)
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    with capture_logs() as logs:
        load_auth_settings(env=env, profile="basic", region=None)
    events = [e for e in logs if e["event"] == "auth.credentials_file_permissive"]
    expected = (
        [
            {
                "event": "auth.credentials_file_permissive",
                "path": str(path),
                "mode": f"{mode:04o}",
                "log_level": "warning",
            }
        ]
        if warned
        else []
    )
    assert events == expected


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://ims.cn-north-4.myhuaweicloud.com", "cn-north-4"),
        ("https://ims.eu-west-101.myhuaweicloud.eu", "eu-west-101"),
        ("http://127.0.0.1:8080", None),
        ("https://ims.example.com", None),
    ],
)
def test_region_is_read_from_a_regional_endpoint(endpoint: str, region: str | None) -> None:
    assert region_from_endpoint(yarl.URL(endpoint)) == region


def test_region_flag_wins_over_endpoint_and_endpoint_over_profile(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "[basic]\nak = AK0000000001\nsk = s\nregion = la-south-2\n")
    env = {"HUAWEICLOUD_SDK_CREDENTIALS_FILE": str(path)}
    endpoint = yarl.URL("https://ims.cn-east-3.myhuaweicloud.com")
    from_flag = load_auth_settings(env=env, profile="basic", region="cn-north-4", endpoint=endpoint)
    from_endpoint = load_auth_settings(env=env, profile="basic", region=None, endpoint=endpoint)
    from_profile = load_auth_settings(env=env, profile="basic", region=None)
    assert [from_flag.region, from_endpoint.region, from_profile.region] == [
        "cn-north-4",
        "cn-east-3",
        "la-south-2",
    ]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("https://iam.example.com", True),
        ("http://127.0.0.1:9000", True),
        ("http://localhost:9000", True),
        ("http://iam.example.com", False),
        ("iam.example.com", False),
    ],
)
def test_iam_endpoint_must_be_https_unless_loopback(value: str, accepted: bool) -> None:
    env = {**AKSK, "HUAWEICLOUD_SDK_IAM_ENDPOINT": value}
    if accepted:
        settings = load_auth_settings(env=env, profile=None, region=None)
        assert settings.iam_endpoint == yarl.URL(value)
    else:
        with pytest.raises(
            AuthConfigError,
            match=r"HUAWEICLOUD_SDK_IAM_ENDPOINT '.*' (uses plain http|is not an http)",
        ):
            load_auth_settings(env=env, profile=None, region=None)


def test_default_iam_endpoint_is_the_global_one() -> None:
    settings = load_auth_settings(env=AKSK, profile=None, region=None)
    assert settings.iam_endpoint == yarl.URL("https://iam.myhuaweicloud.com")


def test_describe_names_mode_project_and_region_but_not_the_key() -> None:
    env = {**AKSK, "HUAWEICLOUD_SDK_PROJECT_ID": "p-123"}
    auth = resolve_authenticator(env=env, profile=None, region="cn-north-4")
    assert auth.describe() == (
        "AK/SK (key AKTE…, from environment), project p-123, region cn-north-4"
    )
