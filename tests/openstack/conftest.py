"""One real Keystone + Glance per test session, started only when an `openstack` test asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.openstack.clouds import clean_os_env, write_clouds
from tests.openstack.stack import Stack, start_stack

__all__ = ["clean_os_env", "stack", "write_clouds"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("openstack"))
    try:
        yield running
    finally:
        running.stop()
