"""A second look at the tasks with the rules the live service publishes (Glance's schema).

The manifest was validated offline with the bundled rules; a cloud may have changed its
schema (another disk format, a longer name). Images with an op the live rules refuse are
reported `invalid` instead of being sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from batch_ims.manifest.attributes import attribute_error, check_value, remove_error
from batch_ims.manifest.rules import AttributeRules
from batch_ims.models import ImageTask, Kept, Op, Outcome, Status, Tasks, unsent


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
    """One pass reports the refused; `send` walks `tasks` again, checking afresh."""

    def problems(task: ImageTask) -> list[str]:
        return [why for op in task.ops if (why := _why(op, rules)) is not None]

    refused: list[Outcome] = []
    for task in tasks:
        found = problems(task)
        if found:
            message = "the service's own schema refuses: " + "; ".join(found)
            refused.append(unsent(task, Status.INVALID, "", code="invalid_row", message=message))
    if not refused:
        return Rechecked(tasks, [])
    return Rechecked(
        Kept(tasks, lambda task: not problems(task), len(tasks) - len(refused)), refused
    )
