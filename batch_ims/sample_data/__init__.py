"""Data shipped inside batch-ims: the demo's manifest and the images it refers to.

Read through `importlib.resources`, so an installed wheel finds them as a checkout does.
`batch-ims demo` runs the manifest against an emulator seeded with the images;
`batch-ims emulator --seed demo` serves the same images.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Final

DEMO_MANIFEST: Final = "manifest-long.csv"
SEED_IMAGES: Final = "seed-images.json"


def sample(name: str) -> Traversable:
    """One shipped file (`DEMO_MANIFEST`, `SEED_IMAGES`); `importlib.resources.as_file`
    gives a real path where one is needed."""
    return files(__name__).joinpath(name)
