"""IMS's attribute rules: what `PATCH /v2/cloudimages/{image_id}` may change, and to what.

Sources: IMS API reference, "Updating Image Information" (PATCH /v2/cloudimages/{image_id})
and "Image Attributes". Names starting with `__` are IMS system attributes: only the
documented modifiable ones are accepted; IMS refuses carriage returns in `__description`.
"""

from __future__ import annotations

from typing import Final

from batch_ims.manifest.rules import AttributeRules

IMS: Final = AttributeRules(
    service="ims",
    read_only=frozenset(
        {
            "id", "status", "owner", "visibility", "checksum", "size", "virtual_size",
            "created_at", "updated_at", "deleted", "deleted_at", "self", "file", "schema",
            "protected", "disk_format", "container_format", "min_disk", "tags", "locations",
            "direct_url", "os_hash_algo", "os_hash_value", "os_hidden", "virtual_env_type",
            "__imagetype", "__platform", "__os_type", "__os_version", "__os_bit",
            "__isregistered", "__originalimagename", "__backup_id", "__productcode",
            "__image_size", "__data_origin", "__root_origin", "__image_source_type",
            "__image_location", "__lazyloading", "__system__cmkid", "__system_encrypted",
            "__whole_image", "__account_code", "__sequence_num", "__os_feature_list",
            "__is_offshelved", "__support_agent_list",
        }
    ),
    text=frozenset({"name", "__description", "__support_xen_gpu_type", "__support_kvm_gpu_type"}),
    booleans=frozenset(
        {
            "__support_kvm", "__support_xen", "__support_diskintensive",
            "__support_highperformance", "__support_largememory", "__support_xen_hana",
            "__is_config_init", "hw_vif_multiqueue_enabled",
        }
    ),
    integers=frozenset({"min_ram", "max_ram"}),  # megabytes
    enums={"hw_firmware_type": ("bios", "uefi")},
    zero_or_uuid=frozenset({"enterprise_project_id"}),
    max_lengths={"name": 128, "__description": 1024},
    unremovable=frozenset({"name"}),
)  # fmt: skip
