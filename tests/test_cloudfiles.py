"""batch_ims.clouds.openstack.cloudfiles: which clouds files openstacksdk may read, vetted and
bounded before it parses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_ims.clouds.openstack.cloudfiles import vetted_files
from batch_ims.errors import UsageError
from tests.e2e.harness import give_to_another_user, refusal

PASSWORD = "密码-SECRET-91c3"


def _env(tmp_path: Path, name: str, text: str, mode: int = 0o600) -> dict[str, str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return {"OS_CLIENT_CONFIG_FILE": str(path), "OS_CLIENT_SECURE_FILE": str(tmp_path / "无")}


def _refused(env: dict[str, str]) -> str:
    with pytest.raises(UsageError) as refused:
        vetted_files(env)
    return str(refused.value)


def test_the_explicit_file_is_the_one_passed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = _env(tmp_path, "mine.yaml", "clouds: {实验室: {auth: {auth_url: x}}}\n")

    files = vetted_files(env)

    assert files.config == [env["OS_CLIENT_CONFIG_FILE"]]


def test_another_users_explicit_file_is_refused_too(tmp_path: Path) -> None:
    env = _env(tmp_path, "clouds.yaml", "clouds: {}\n")
    give_to_another_user(Path(env["OS_CLIENT_CONFIG_FILE"]))

    message = _refused(env)

    path = Path(env["OS_CLIENT_CONFIG_FILE"])
    assert message == refusal("OpenStack config file", path, "is owned by another user")


def test_yaml_nested_deeper_than_32_levels_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path, "clouds.yaml", "clouds: " + "[" * 40 + "]" * 40 + "\n")

    assert _refused(env).endswith("clouds.yaml nested deeper than 32 levels: refused")


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    env = _env(tmp_path, "clouds.yaml", "\n".join([*lines, "clouds: {x: *a11}"]) + "\n")

    message = _refused(env)

    assert message.endswith("expands to more than 100,000 values (aliases copied out): refused")


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path, "clouds.yaml", "clouds: &c {x: *c}\n")

    assert _refused(env).endswith("an alias refers to a value that contains it: refused")


def test_malformed_yaml_is_refused_without_quoting_its_lines(tmp_path: Path) -> None:
    text = f"clouds:\n  lab:\n    auth: {{password: {PASSWORD}\n  bad: [\n"
    env = _env(tmp_path, "clouds.yaml", text)

    message = _refused(env)

    assert "not valid YAML (" in message
    assert PASSWORD not in message
    assert "\n" not in message


def test_json_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path, "clouds.json", '{"clouds": ' + "[" * 50_000 + "]" * 50_000 + "}")

    assert _refused(env).endswith("clouds.json nested deeper than 32 levels: refused")


def test_an_unreadable_or_absent_file_is_skipped_as_the_loader_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "无.yaml")}
    monkeypatch.setattr("openstack.config.loader.CONFIG_FILES", [str(tmp_path / "也无.yaml")])

    assert vetted_files(env).config == []


def test_a_yaml_file_of_too_many_values_is_refused_while_it_is_read(tmp_path: Path) -> None:
    env = _env(tmp_path, "clouds.yaml", "clouds: [" + "1," * 100_001 + "1]\n")

    assert _refused(env).endswith("clouds.yaml holds more than 100,000 values: refused")
