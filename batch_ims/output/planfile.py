"""The reviewed plan, bound to the run: `plan --diff --out PLAN.json`, `run --plan PLAN.json`.

A plan records the manifest's SHA-256, the target (cloud, service, image and sign-in
endpoints, auth mode) and, per image, the operations and the values the diff showed before
and after. A run given the plan refuses (exit 2, nothing sent) a manifest or a target that
differs, and sends an image only while its current values are still the plan's "before".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_ims.errors import UsageError
from batch_ims.models import ImageTask, Op
from batch_ims.output.files import OutputFile, write_error
from batch_ims.values import as_text

FORMAT = "batch-ims-plan/1"
MAX_PLAN_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def before_values(image: Mapping[str, Any] | None, ops: Iterable[Op]) -> dict[str, str | None]:
    """The value of each attribute the ops touch, as text; None where the image has none."""
    if image is None:
        return {}
    return {
        op.attribute: as_text(image[op.attribute]) if op.attribute in image else None for op in ops
    }


def after_values(ops: Iterable[Op]) -> dict[str, str | None]:
    """What each attribute holds once the ops applied (the last op on a path wins)."""
    after: dict[str, str | None] = {}
    for op in ops:
        after[op.attribute] = None if op.op == "remove" else (op.value or "")
    return after


@dataclass(frozen=True, slots=True)
class PlannedImage:
    ops: tuple[Op, ...]
    before: dict[str, str | None]
    read: bool  # False: the diff could not read it (not found, or an error)


@dataclass(frozen=True, slots=True)
class Plan:
    manifest_digest: str
    target: dict[str, str]
    images: dict[str, PlannedImage]


def write_plan(
    out: OutputFile,
    *,
    manifest: Path,
    target: Mapping[str, str],
    reads: Iterable[tuple[ImageTask, Mapping[str, Any] | None, bool]],
) -> None:
    """Write the plan to its claimed output and commit it whole."""
    images = {
        task.image_id: {
            "rows": list(task.rows),
            "ops": [op.as_json() for op in task.ops],
            "read": read,
            "before": before_values(image, task.ops),
            "after": after_values(task.ops),
        }
        for task, image, read in reads
    }
    document = {
        "format": FORMAT,
        "manifest": {"path": str(manifest), "sha256": file_digest(manifest)},
        "target": dict(target),
        "images": images,
    }
    try:
        out.file.write((json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode())
    except OSError as exc:
        out.discard()
        raise write_error(out.label, out.path, exc) from exc
    out.commit()


def _refuse(path: Path, why: str) -> UsageError:
    return UsageError(f"--plan {str(path)!r}: {why}; make it again with plan --diff --out")


def read_plan(path: Path) -> Plan:
    """The plan at `path`; UsageError (exit 2) with one line when it cannot be used."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--plan {str(path)!r}: cannot read it ({exc.strerror})") from exc
    if len(raw) > MAX_PLAN_BYTES:
        raise _refuse(path, f"larger than {MAX_PLAN_BYTES // 2**20} MiB")
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise _refuse(path, f"not a {FORMAT} file")
        images = {
            str(image_id): PlannedImage(
                ops=tuple(Op(o["op"], o["path"], o.get("value")) for o in entry["ops"]),
                before={
                    str(k): (None if v is None else str(v)) for k, v in entry["before"].items()
                },
                read=bool(entry["read"]),
            )
            for image_id, entry in data["images"].items()
        }
        return Plan(
            manifest_digest=str(data["manifest"]["sha256"]),
            target={str(k): str(v) for k, v in data["target"].items()},
            images=images,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _refuse(path, f"not a readable plan ({type(exc).__name__})") from exc


def drift(planned: PlannedImage, image: Mapping[str, Any]) -> list[str]:
    """The attributes whose current value is no longer the plan's "before"."""
    if not planned.read:
        return sorted({op.attribute for op in planned.ops})
    now = before_values(image, planned.ops)
    return sorted(name for name, value in planned.before.items() if now.get(name) != value)
