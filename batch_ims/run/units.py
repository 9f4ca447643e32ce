"""The targets of one run: each its own cloud scope, credentials, endpoint and selection.

A manifest without target columns is one unit, the run's own target. With them (a `region`
column, say), each distinct value is a unit: its own sign-in, token, session, `--rate` and
`--concurrency` budget, and its own lines in the journal, so that `--resume` never takes a
success at one target for another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from batch_ims.clouds import Cloud, scoped_cloud
from batch_ims.clouds.base import Target
from batch_ims.errors import UsageError
from batch_ims.manifest.targets import TargetCells, several_targets
from batch_ims.models import Outcome
from batch_ims.output.paths import OutputPaths
from batch_ims.output.planfile import PlannedImage, read_plan
from batch_ims.run.bound import check_plan
from batch_ims.run.prepare import Prepared, load, prepare
from batch_ims.settings import RunSettings


@dataclass(frozen=True, slots=True)
class Unit:
    """One target of a run and what to send there."""

    cells: TargetCells
    cloud: Cloud
    identity: str  # `Explained.identity`: the journal's target
    stamp: str  # each outcome's `target`: the identity when the run has several, else ""
    target: Target | None  # None: a dry run
    prepared: Prepared
    planned: Mapping[str, PlannedImage] | None  # --plan: each image's reviewed "before"

    def record(self, record: Callable[[Outcome], None]) -> Callable[[Outcome], None]:
        """`record`, with this unit's target written on every outcome of a multi-target run."""
        if not self.stamp:
            return record
        stamp = self.stamp
        return lambda outcome: record(dataclasses.replace(outcome, target=stamp))


def build_units(settings: RunSettings, cloud: Cloud, paths: OutputPaths) -> list[Unit]:
    """Read the manifest and resolve each of its targets; UsageError (exit 2, nothing sent)
    naming the manifest's cell when a target cannot be used."""
    parts = load(settings, cloud.rules, cloud.target_columns)
    several = several_targets(parts)
    if several and settings.plan is not None:
        raise UsageError(
            f"--plan: {settings.manifest} has target columns "
            f"({', '.join(cloud.target_columns)}); a plan binds one target: split the manifest"
        )
    units = []
    for cells, manifest in parts:
        scoped = scoped_cloud(cloud, cells, settings.manifest)
        planned = None
        if settings.dry_run:  # no credentials needed: the target is named by its cells
            identity = cells.label
        else:
            explained = scoped.explain()
            identity = explained.identity
            if settings.plan is not None:
                planned = check_plan(read_plan(settings.plan), settings, manifest, explained)
        units.append(
            Unit(
                cells=cells,
                cloud=scoped,
                identity=identity,
                stamp=identity if several else "",
                target=None if settings.dry_run else scoped.target(),
                prepared=prepare(settings, manifest, paths, target=identity),
                planned=planned,
            )
        )
    return units
