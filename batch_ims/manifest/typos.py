"""Extension attributes that look like typos of a known attribute: warnings, or with `strict`
invalid rows.

`description` or `min_rm` is a valid extension attribute name, so IMS would store it and
nothing the user meant would change. Each distinct attribute one edit away from a known one
(see `AttributeRules.suggestion`) gives one warning naming the first row that uses it; with
`strict`, every row that uses it is invalid instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from batch_ims.manifest.attributes import attribute_error, parse_path
from batch_ims.manifest.layout import Entries
from batch_ims.manifest.rules import AttributeRules, AttributeWarning


def find_typos(
    path: str, entries: Entries, rules: AttributeRules, *, header_row: int
) -> list[AttributeWarning]:
    """One warning per distinct attribute that looks like a typo, in column/path order."""
    found: list[AttributeWarning] = []
    wide = entries.layout == "wide"
    for code, text in enumerate(entries.path_texts):
        attribute = parse_path(text)
        if attribute_error(attribute, rules) is not None:
            continue
        suggestion = rules.suggestion(attribute)
        if suggestion is None:
            continue
        used = entries.row[entries.path_codes == code]
        if not len(used):
            continue
        first = header_row if wide else int(entries.row_numbers[used[0]])
        column = text if wide else "path"
        rows = len(np.unique(used)) if wide else len(used)
        found.append(AttributeWarning(path, first, column, attribute, suggestion, rows))
    return found


def refuse_typos(entries: Entries, typos: list[AttributeWarning]) -> Entries:
    """`entries` with every row that uses a suspected typo made invalid (strict mode)."""
    if not typos:
        return entries
    problems = {row: list(items) for row, items in entries.problems.items()}
    by_attribute = {typo.attribute: typo for typo in typos}
    for code, text in enumerate(entries.path_texts):
        typo = by_attribute.get(parse_path(text))
        if typo is None:
            continue
        label = text if entries.layout == "wide" else "path"
        message = f"{typo.message} (strict: likely typos are refused)"
        for row in np.unique(entries.row[entries.path_codes == code]).tolist():
            problems.setdefault(row, []).append((label, text, message))
    return dataclasses.replace(entries, problems=problems)
