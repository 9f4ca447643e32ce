"""The emulator's images: deterministic generated ones and seed files, shaped like IMS's."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from typing import Any

Image = dict[str, Any]

_NAMESPACE = uuid.UUID("5d0c5e1e-7c1a-4b8e-9a52-2f6b1c3e8a10")
_CREATED_AT = "2024-01-02T03:04:05Z"
DEFAULT_OWNER = uuid.uuid5(_NAMESPACE, "owner").hex

# Attributes IMS documents as modifiable with PATCH /v2/cloudimages/{image_id}.
MODIFIABLE_ATTRIBUTES = frozenset(
    {
        "name",
        "__description",
        "__support_kvm",
        "__support_xen",
        "__support_diskintensive",
        "__support_highperformance",
        "__support_xen_gpu_type",
        "__support_kvm_gpu_type",
        "__is_config_init",
        "enterprise_project_id",
        "min_ram",
        "hw_vif_multiqueue_enabled",
        "hw_firmware_type",
    }
)

# Glance's core read-only attributes plus the system attributes IMS manages itself.
READ_ONLY_ATTRIBUTES = frozenset(
    {
        "id",
        "status",
        "owner",
        "visibility",
        "checksum",
        "size",
        "virtual_size",
        "created_at",
        "updated_at",
        "active_at",
        "self",
        "file",
        "schema",
        "protected",
        "disk_format",
        "container_format",
        "min_disk",
        "tags",
        "locations",
        "direct_url",
        "os_hash_algo",
        "os_hash_value",
        "virtual_env_type",
        "__imagetype",
        "__image_size",
        "__image_source_type",
        "__isregistered",
        "__originalimagename",
        "__backup_id",
        "__data_origin",
        "__productcode",
        "__platform",
        "__os_type",
        "__os_bit",
        "__system__cmkid",
        "__system_support_market",
        "__account_code",
        "__is_offshelved",
        "__lazyloading",
        "__root_origin",
        "__sequence_num",
    }
)


def generated_image_id(index: int) -> str:
    """The id of the `index`-th image made by `--images N` (0-based), stable across runs."""
    return str(uuid.uuid5(_NAMESPACE, f"image-{index}"))


def utc_timestamp(epoch_s: float) -> str:
    """IMS's timestamp format: `2024-01-02T03:04:05Z`."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_image(image_id: str, name: str, *, status: str = "active", owner: str = "") -> Image:
    """A private image with the attributes IMS returns; all values as IMS types them."""
    return {
        "id": image_id,
        "name": name,
        "status": status,
        "visibility": "private",
        "owner": owner or DEFAULT_OWNER,
        "protected": False,
        "__imagetype": "private",
        "__isregistered": "true",
        "__platform": "Ubuntu",
        "__os_type": "Linux",
        "__os_version": "Ubuntu 22.04 server 64bit",
        "__os_bit": "64",
        "__support_kvm": "true",
        "__description": "",
        "hw_firmware_type": "bios",
        "virtual_env_type": "FusionCompute",
        "disk_format": "zvhd2",
        "container_format": "bare",
        "min_disk": 40,
        "min_ram": 0,
        "size": 0,
        "virtual_size": 0,
        "tags": [],
        "created_at": _CREATED_AT,
        "updated_at": _CREATED_AT,
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }


def generate_images(count: int, *, owner: str = "") -> dict[str, Image]:
    """`count` active images named `image-00000`, ... with `generated_image_id` ids."""
    images: dict[str, Image] = {}
    for index in range(count):
        image_id = generated_image_id(index)
        images[image_id] = new_image(image_id, f"image-{index:05d}", owner=owner)
    return images


def load_seed(path: Traversable, *, owner: str = "") -> dict[str, Image]:
    """Images from a JSON file: a list of image objects (or `{"images": [...]}`).

    Each object needs `id`, `name` and `status` as strings; missing IMS attributes
    get the defaults of `new_image`, given ones win.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("images")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of images")
    images: dict[str, Image] = {}
    for position, item in enumerate(data):
        images.update(_seed_image(item, where=f"{path}, image #{position}", owner=owner))
    return images


def _seed_image(item: object, *, where: str, owner: str) -> dict[str, Image]:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: not a JSON object")
    for key in ("id", "name", "status"):
        if not isinstance(item.get(key), str):
            raise ValueError(f"{where}: {key!r} must be a string")
    image = new_image(item["id"], item["name"], status=item["status"], owner=owner)
    image.update(item)
    return {image["id"]: image}
