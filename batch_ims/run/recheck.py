"""A second look at the tasks with the rules the live service publishes (Glance's schema).

The manifest was validated offline with the bundled rules; a cloud may have changed its
schema (another disk format, a longer name). Images with an op the live rules refuse are
reported `invalid` instead of being sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from batch_ims.manifest.attributes import attribute_error, check_value, remove_error
from batch_ims.manifest.rules import AttributeRules
from batch_ims.models import Kept, Op, Outcome, Status, Tasks, unsent


@dataclass(frozen=True, slots=True)
class Rechecked:
    send: Tasks
    refused: list[Outcome]


def _why(op: Op, rules: AttributeRules) -> str | None:
    found = attribute_error(op.attribute, rules)
    if found is None and op.op == "remove":
        found = remove_error(op.attribute, rules)
    if found is None and op.op != "remove":
        found = check_value(op.attribute, op.value or "", rules)[1]
    return None if found is None else f"{op.attribute}: {found}"


def recheck(tasks: Tasks, rules: AttributeRules) -> Rechecked:
    """One pass reports the refused and marks the rest; `send` walks `tasks` again."""
    refused: list[Outcome] = []
    fine = bytearray()
    for task in tasks:
        problems = [why for op in task.ops if (why := _why(op, rules)) is not None]
        fine.append(not problems)
        if problems:
            message = "the service's own schema refuses: " + "; ".join(problems)
            refused.append(unsent(task, Status.INVALID, "", code="invalid_row", message=message))
    if not refused:
        return Rechecked(tasks, [])
    return Rechecked(Kept(tasks, bytes(fine)), refused)
