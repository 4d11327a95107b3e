"""Operator tools behind ``dalcore erd``, ``inspect``, ``check`` and ``doctor``.

Private: the command line is their interface. Each module takes an already configured runtime
(or, for the diagram, only the registered hybrids) and returns plain data that the CLI prints
as a table or as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject


def known_hybrids(names: list[str] | None = None) -> list[type[DataObject]]:
    """The registered hybrids (after plugin replacements), sorted by class name.

    ``names`` keeps only those classes (each must exist: a DefinitionError names a missing one).
    """
    from dalcore._schema import by_name, hybrid, registry_lock

    if names:
        return sorted({hybrid(name) for name in names}, key=lambda cls: cls.__name__)
    with registry_lock:
        classes = set(by_name.values())
    found = {cls._replacement() for cls in classes}
    # A class replaced by a plugin's subclass is shown as its replacement only.
    return sorted(found, key=lambda cls: (cls.__name__, cls.__module__))


def table(out: Any, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns padded to their widest cell; the last one unpadded (no trailing blanks)."""
    cells = [[_cell(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        out.write("  ".join([*padded, row[-1]]).rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def dump_json(out: Any, data: Any) -> None:
    json.dump(data, out, indent=2, sort_keys=False, default=str)
    out.write("\n")
