"""`run --plan`: the run applies exactly the plan that was reviewed, or refuses before sending.

The manifest must be the file the plan was made from (same SHA-256), the target the same
(cloud, service, endpoints, auth mode), and every image the plan's with the plan's
operations. Each image's current values are compared with the plan's "before" as it is
sent (`run/current_state.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict

from batch_ims.clouds.base import Explained
from batch_ims.errors import UsageError
from batch_ims.manifest import Manifest
from batch_ims.models import ImageTask
from batch_ims.output.planfile import Plan, PlannedImage, file_digest
from batch_ims.settings import RunSettings


def target_identity(explained: Explained) -> dict[str, str]:
    """What a plan records of its target, and a run compares."""
    return asdict(explained)


def _differences(planned: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    return [
        f"{name} {planned.get(name)!r} in the plan, {now.get(name)!r} now"
        for name in sorted(set(planned) | set(now))
        if planned.get(name) != now.get(name)
    ]


def check_plan(
    plan: Plan, settings: RunSettings, manifest: Manifest, explained: Explained
) -> Mapping[str, PlannedImage]:
    """The plan's images by id, once the manifest and the target are the plan's own;
    UsageError (exit 2, nothing sent) naming the first difference otherwise."""
    where = f"--plan {str(settings.plan)!r}"
    if file_digest(settings.manifest) != plan.manifest_digest:
        raise UsageError(
            f"{where}: the manifest {str(settings.manifest)!r} changed since the plan was made "
            "(its SHA-256 differs); review it again with plan --diff --out"
        )
    differences = _differences(plan.target, target_identity(explained))
    if differences:
        raise UsageError(f"{where}: another target: {'; '.join(differences)}")
    _check_images(where, plan, manifest.task_stream())
    return plan.images


def _check_images(where: str, plan: Plan, tasks: Iterable[ImageTask]) -> None:
    seen = 0
    for task in tasks:
        planned = plan.images.get(task.image_id)
        if planned is None or planned.ops != task.ops:
            change = "is not in the plan" if planned is None else "has other operations"
            raise UsageError(f"{where}: image {task.image_id} {change}; make the plan again")
        seen += 1
    if seen != len(plan.images):
        raise UsageError(
            f"{where}: the plan has {len(plan.images)} images, the manifest {seen} valid ones; "
            "make the plan again"
        )
