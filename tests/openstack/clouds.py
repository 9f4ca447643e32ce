"""Fixtures for clouds.yaml-driven tests: an environment with no OS_* variable and no clouds.yaml
of the caller's, and a writer for clouds.yaml / secure.yaml in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

WriteClouds = Callable[..., Path]


@pytest.fixture
def clean_os_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OS_* variable of the caller's; OS_CLIENT_CONFIG_FILE and OS_CLIENT_SECURE_FILE point
    at empty files in tmp_path, so no clouds.yaml on this machine is read."""
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, file in (
        ("OS_CLIENT_CONFIG_FILE", "clouds.yaml"),
        ("OS_CLIENT_SECURE_FILE", "secure.yaml"),
    ):
        path = tmp_path / file
        path.write_text("clouds: {}\n")
        monkeypatch.setenv(name, str(path))


@pytest.fixture
def write_clouds(clean_os_env: None, tmp_path: Path) -> WriteClouds:
    """Write clouds.yaml (and secure.yaml) where OS_CLIENT_CONFIG_FILE / _SECURE_FILE point."""

    def _write(
        clouds: dict[str, dict[str, Any]], secure: dict[str, dict[str, Any]] | None = None
    ) -> Path:
        path = tmp_path / "clouds.yaml"
        path.write_text(yaml.safe_dump({"clouds": clouds}))
        (tmp_path / "secure.yaml").write_text(yaml.safe_dump({"clouds": secure or {}}))
        return path

    return _write
