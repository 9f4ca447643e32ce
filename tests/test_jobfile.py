"""batch_ims.jobfile: TOML job files, paths beside the job, errors naming key and file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch_ims.cli import _settings_values
from batch_ims.errors import UsageError
from batch_ims.jobfile import load_job
from batch_ims.settings import Shard, build_settings

NOW = datetime(2024, 3, 15, 8, 15, 42, tzinfo=UTC)


def _job(tmp_path: Path, text: str, name: str = "nightly.toml") -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_keys_are_spelled_like_long_options(tmp_path: Path) -> None:
    job = _job(
        tmp_path,
        'max-attempts = 7\nrate = 25\nmax-failure-rate = 0.2\ndry-run = true\nshard = "1/3"\n',
    )

    assert load_job(job) == {
        "max_attempts": 7,
        "rate": 25,
        "max_failure_rate": 0.2,
        "dry_run": True,
        "shard": "1/3",
    }


def test_relative_paths_resolve_against_the_job_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(tmp_path, 'manifest = "data/m.csv"\nreport = "../out/r.csv"\n')
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    values = load_job(job)

    folder = (tmp_path / "jobs").resolve()
    assert Path(values["manifest"]) == folder / "data" / "m.csv"
    assert Path(values["report"]).resolve() == tmp_path.resolve() / "out" / "r.csv"


def test_job_given_by_relative_path_still_resolves_beside_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _job(tmp_path, 'manifest = "m.csv"\n')
    monkeypatch.chdir(tmp_path)

    values = load_job(Path("jobs/nightly.toml"))

    assert Path(values["manifest"]) == (tmp_path / "jobs").resolve() / "m.csv"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "m.csv"
    job = _job(tmp_path, f'manifest = "{target}"\n')

    assert Path(load_job(job)["manifest"]) == target


def test_home_in_paths_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    job = _job(tmp_path, 'manifest = "~/m.csv"\n')

    assert Path(load_job(job)["manifest"]) == tmp_path / "home" / "m.csv"


def test_templated_report_lands_beside_the_job_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(tmp_path, 'manifest = "m.csv"\nreport = "out/report-%Y%m%d.csv"\n')
    monkeypatch.chdir(tmp_path)

    settings = build_settings(load_job(job, now=NOW), now=NOW)

    assert settings.report == (tmp_path / "jobs").resolve() / "out" / "report-20240315.csv"


def test_command_line_overrides_the_job_file(tmp_path: Path) -> None:
    job = _job(tmp_path, 'manifest = "m.csv"\nconcurrency = 16\nrate = 50.0\nshard = "0/2"\n')

    options = {"concurrency": 3, "rate": None, "shard": "1/2"}
    values = _settings_values("cli.csv", job, options, now=NOW)
    settings = build_settings(values, now=NOW)

    assert settings.manifest == Path("cli.csv")
    assert (settings.concurrency, settings.rate, settings.shard) == (3, 50.0, Shard(1, 2))


def test_unknown_key_is_a_usage_error_naming_key_and_file(tmp_path: Path) -> None:
    job = _job(tmp_path, 'manifest = "m.csv"\ncolour = "blue"\n')

    with pytest.raises(UsageError) as caught:
        load_job(job)

    assert "'colour'" in str(caught.value)
    assert str(job) in str(caught.value)


@pytest.mark.parametrize("key", ["max_attempts", "job"])
def test_keys_not_spelled_as_job_options_are_unknown(tmp_path: Path, key: str) -> None:
    job = _job(tmp_path, f"{key} = 1\n")

    with pytest.raises(UsageError, match=f"unknown key '{key}'"):
        load_job(job)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('concurrency = "8"', "concurrency"),
        ("concurrency = true", "concurrency"),
        ("concurrency = 2.5", "concurrency"),
        ('rate = "fast"', "rate"),
        ("rate = false", "rate"),
        ('dry-run = "yes"', "dry-run"),
        ("manifest = 5", "manifest"),
        ("shard = 1", "shard"),
    ],
)
def test_wrong_type_is_a_usage_error_naming_key_and_file(
    tmp_path: Path, line: str, key: str
) -> None:
    job = _job(tmp_path, line + "\n")

    with pytest.raises(UsageError) as caught:
        load_job(job)

    assert f"key '{key}' must be" in str(caught.value)
    assert str(job) in str(caught.value)


def test_missing_job_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_job(tmp_path / "absent.toml")


def test_invalid_toml_is_a_usage_error(tmp_path: Path) -> None:
    job = _job(tmp_path, "manifest = \n")

    with pytest.raises(UsageError, match="not valid TOML"):
        load_job(job)


def test_resume_without_journal_in_a_job_file_is_a_usage_error(tmp_path: Path) -> None:
    job = _job(tmp_path, 'manifest = "m.csv"\nresume = true\n')

    with pytest.raises(UsageError, match="--resume needs --journal"):
        build_settings(load_job(job), now=NOW)


def test_bad_shard_in_a_job_file_is_a_usage_error(tmp_path: Path) -> None:
    job = _job(tmp_path, 'manifest = "m.csv"\nshard = "3/3"\n')

    with pytest.raises(UsageError, match="--shard '3/3'"):
        build_settings(load_job(job), now=NOW)


def test_every_run_option_is_a_job_key_verbose_included(tmp_path: Path) -> None:
    job = _job(tmp_path, 'manifest = "m.csv"\nverbose = true\n')

    assert load_job(job)["verbose"] is True


def test_a_job_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_bytes('manifest = "m.csv"\nregion = "café"\n'.encode("latin-1"))

    with pytest.raises(UsageError, match="not UTF-8"):
        load_job(job)
