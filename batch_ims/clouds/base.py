"""What the run asks of a cloud: credentials, where its image service is, its rules, its hints.

A cloud family (`clouds/huawei`, `clouds/openstack`) answers these once per target; the run,
the manifest reader and the outputs take the answers as arguments and name no cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yarl import URL

from batch_ims.clouds.auth import Authenticator
from batch_ims.clouds.service import ImageService
from batch_ims.manifest.rules import AttributeRules


@dataclass(frozen=True, slots=True)
class Target:
    """Credentials, and how to find the service once they are prepared (signed in).

    `locate` raises AuthFailedError when the service cannot be found (e.g. no image
    endpoint in the catalog); it is called only after `auth.prepare` succeeded."""

    auth: Authenticator
    locate: Callable[[], tuple[URL, ImageService]]


@dataclass(frozen=True, slots=True)
class Explained:
    """What a target would use, shown by `plan --explain` without sending anything."""

    cloud: str
    service: str
    image_endpoint: str
    auth_endpoint: str
    auth_mode: str
    scope: str  # the credentials' scope: project, region or cloud

    @property
    def identity(self) -> str:
        """One line that tells two targets apart: the journal's and the report's `target`."""
        return f"{self.service} {self.image_endpoint} {self.scope}".strip()


class Cloud(Protocol):
    """One cloud family, configured for one run."""

    @property
    def name(self) -> str:
        """Short name for logs and the summary, e.g. 'huaweicloud', 'openstack'."""
        ...

    @property
    def rules(self) -> AttributeRules:
        """The attribute rules a manifest is validated against before anything is sent."""
        ...

    @property
    def target_columns(self) -> tuple[str, ...]:
        """Manifest columns that choose a target per row (e.g. a region), in header case."""
        ...

    def scoped(self, cells: Mapping[str, str]) -> Cloud:
        """This cloud for the rows whose target columns hold `cells` (empty: itself);
        UsageError when a value cannot name a target."""
        ...

    def target(self) -> Target:
        """Credentials and the service locator; AuthConfigError/UsageError when unusable."""
        ...

    def explain(self) -> Explained:
        """Where requests would go and how they would authenticate; nothing is sent."""
        ...

    def failure_hint(
        self,
        *,
        code: str,
        message: str,
        server_date: str | None,
        now: datetime,
        auth: Authenticator,
    ) -> str:
        """One line after an authentication failure: the answer, its likely cause, what to check."""
        ...
