"""batch_ims.settings: defaults, templates, validation, shard parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batch_ims.errors import UsageError
from batch_ims.settings import (
    AUTO_CONCURRENCY_CEILING,
    RunSettings,
    Shard,
    build_settings,
    expand_template,
)

NOW = datetime(2024, 3, 15, 8, 15, 42, tzinfo=UTC)


def _build(**values: Any) -> RunSettings:
    return build_settings({"manifest": "m.csv", **values}, now=NOW)


def test_defaults_when_only_a_manifest_is_given() -> None:
    settings = _build()

    assert settings == RunSettings(manifest=Path("m.csv"))
    assert (
        settings.concurrency,
        settings.rate,
        settings.max_attempts,
        settings.timeout,
        settings.max_failure_rate,
        settings.min_finished,
        settings.grace,
        settings.auth_failure_limit,
        settings.progress_interval,
        settings.log_format,
    ) == (None, 10.0, 5, 30.0, 0.5, 100, 20.0, 5, 10.0, "auto")
    assert (settings.report, settings.journal, settings.shard, settings.resume) == (
        None,
        None,
        None,
        False,
    )


def test_none_values_keep_the_defaults() -> None:
    settings = _build(concurrency=None, rate=None, report=None)

    assert (settings.concurrency, settings.rate, settings.report) == (None, 10.0, None)


def test_concurrency_is_a_ceiling_the_user_chose_or_the_default_one() -> None:
    assert _build().concurrency_ceiling == (AUTO_CONCURRENCY_CEILING, "default")
    assert _build(concurrency=12).concurrency_ceiling == (12, "--concurrency")


def test_given_values_replace_defaults() -> None:
    settings = _build(concurrency=32, rate=250.0, dry_run=True)

    assert (settings.concurrency, settings.rate, settings.dry_run) == (32, 250.0, True)


def test_paths_become_path_objects() -> None:
    settings = _build(ca_bundle="certs/ca.pem", retry_failed_from="old.csv")

    assert (settings.ca_bundle, settings.retry_failed_from) == (
        Path("certs/ca.pem"),
        Path("old.csv"),
    )


def test_strftime_templates_expand_in_output_paths() -> None:
    settings = _build(
        report="out/report-%Y%m%d.csv",
        journal="out/%Y/%m/%d/run-%H%M%S.journal",
        summary_json="out/summary-%Y%m%dT%H%M.json",
        undo_manifest="out/undo-%d.csv",
    )

    assert settings.report == Path("out/report-20240315.csv")
    assert settings.journal == Path("out/2024/03/15/run-081542.journal")
    assert settings.summary_json == Path("out/summary-20240315T0815.json")
    assert settings.undo_manifest == Path("out/undo-15.csv")


def test_manifest_and_earlier_report_are_not_templates() -> None:
    settings = build_settings(
        {"manifest": "in/m-%Y.csv", "retry_failed_from": "out/r-%Y.csv"}, now=NOW
    )

    assert (settings.manifest, settings.retry_failed_from) == (
        Path("in/m-%Y.csv"),
        Path("out/r-%Y.csv"),
    )


def test_expand_template_leaves_plain_paths_alone() -> None:
    assert expand_template("out/report.csv", NOW) == "out/report.csv"


def test_missing_manifest_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no manifest"):
        build_settings({"concurrency": 4}, now=NOW)


def test_resume_without_journal_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--resume needs --journal"):
        _build(resume=True)


def test_resume_with_journal_is_accepted() -> None:
    settings = _build(resume=True, journal="run.journal")

    assert (settings.resume, settings.journal) == (True, Path("run.journal"))


def test_insecure_with_ca_bundle_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--insecure and --ca-bundle"):
        _build(insecure=True, ca_bundle="ca.pem")


@pytest.mark.parametrize(
    ("name", "value", "option"),
    [
        ("concurrency", 0, "--concurrency"),
        ("rate", 0.0, "--rate"),
        ("rate", -1.0, "--rate"),
        ("max_attempts", 0, "--max-attempts"),
        ("timeout", 0.0, "--timeout"),
        ("max_failure_rate", 1.5, "--max-failure-rate"),
        ("max_failure_rate", -0.1, "--max-failure-rate"),
        ("min_finished", 0, "--min-finished"),
        ("grace", -1.0, "--grace"),
        ("auth_failure_limit", 0, "--auth-failure-limit"),
        ("progress_interval", 0.0, "--progress-interval"),
        ("log_format", "xml", "--log-format"),
    ],
)
def test_out_of_range_values_are_usage_errors_naming_the_option(
    name: str, value: object, option: str
) -> None:
    with pytest.raises(UsageError, match=f"^{option} "):
        _build(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("grace", 0.0), ("max_failure_rate", 0.0), ("max_failure_rate", 1.0), ("concurrency", 1)],
)
def test_boundary_values_are_accepted(name: str, value: object) -> None:
    assert getattr(_build(**{name: value}), name) == value


@pytest.mark.parametrize(
    ("text", "shard"), [("0/3", Shard(0, 3)), (" 2/3 ", Shard(2, 3)), ("0/1", Shard(0, 1))]
)
def test_shard_parses_k_of_n(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard


@pytest.mark.parametrize("text", ["3/3", "4/3", "0/0", "1/0", "-1/3", "a/b", "1", "", "1/2/3"])
def test_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        Shard.parse(text)


def test_shard_given_as_text_becomes_a_shard() -> None:
    assert _build(shard="1/4").shard == Shard(1, 4)


def test_bad_shard_in_settings_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--shard '5/4'"):
        _build(shard="5/4")


@pytest.mark.parametrize("name", ["rate", "timeout", "grace", "progress_interval"])
def test_non_finite_numbers_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="finite"):
        build_settings({"manifest": "m.csv", name: float("inf")}, now=NOW)
