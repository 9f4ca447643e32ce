"""Bench manifests (long layout, two rows per image) and a lean reader for the floor and SDK."""

from __future__ import annotations

import csv
from pathlib import Path

HEADER = ("image_id", "op", "path", "value")
Ops = list[dict[str, str]]


def write_manifest(path: Path, *, images: int, start: int = 0) -> Path:
    """`images` emulator images (ids from `start`), each: replace name, replace min_ram.

    Reused when the file already exists: its name must say what it holds.
    """
    if path.exists():
        return path
    from batch_ims.emulator.images import generated_image_id

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for index in range(start, start + images):
            image_id = generated_image_id(index)
            writer.writerow((image_id, "replace", "name", f"bench-{index:07d}"))
            writer.writerow((image_id, "replace", "min_ram", str(1024 + index % 4 * 1024)))
    partial.replace(path)
    return path


def manifest_path(folder: Path, *, images: int) -> Path:
    return folder / f"manifest-{images}-images.csv"


def read_tasks(path: Path) -> list[tuple[str, Ops]]:
    """(image_id, JSON Patch ops) per image, in first-seen order: what a script would do."""
    grouped: dict[str, Ops] = {}
    with open(path, newline="", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            op = {"op": row["op"], "path": "/" + row["path"].lstrip("/"), "value": row["value"]}
            grouped.setdefault(row["image_id"], []).append(op)
    return list(grouped.items())
