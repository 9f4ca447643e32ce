"""run.recheck: tasks checked again with the rules the live service publishes."""

from __future__ import annotations

from batch_ims.clouds.openstack.rules import rules_from_schema
from batch_ims.models import ImageTask, Op, Status
from batch_ims.run.recheck import recheck

SCHEMA = {
    "properties": {
        "name": {"type": ["null", "string"], "maxLength": 10},
        "disk_format": {"type": ["null", "string"], "enum": [None, "raw", "qcow2"]},
        "status": {"type": "string", "readOnly": True},
    }
}


def _task(n: int, *ops: Op) -> ImageTask:
    return ImageTask(f"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f{n}", ops, (n + 1,))


def test_ops_the_live_schema_refuses_make_their_image_invalid_the_rest_is_sent() -> None:
    fine = _task(1, Op("replace", "/disk_format", "raw"), Op("add", "/cost_center", "cc"))
    long_name = _task(2, Op("replace", "/name", "a-name-longer-than-ten"))
    unknown_format = _task(3, Op("replace", "/disk_format", "vmdk"))

    checked = recheck([fine, long_name, unknown_format], rules_from_schema(SCHEMA))

    assert (list(checked.send), len(checked.send)) == ([fine], 1)
    assert list(checked.send) == [fine]  # walked again: the same choice
    assert [(o.image_id, o.status, o.error_code) for o in checked.refused] == [
        (long_name.image_id, Status.INVALID, "invalid_row"),
        (unknown_format.image_id, Status.INVALID, "invalid_row"),
    ]
    assert "disk_format" in checked.refused[1].error_message
    assert checked.refused[1].error_message.startswith("the service's own schema refuses: ")
