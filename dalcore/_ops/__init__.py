"""Operator tools behind ``dalcore erd``, ``inspect``, ``check`` and ``doctor``.

Private: the command line is their interface. Each module takes an already configured runtime
(or, for the diagram, only the registered hybrids) and returns plain data that the CLI prints
as a table or as JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject


def known_hybrids(names: list[str] | None = None) -> list[type[DataObject]]:
    """The registered hybrids (after plugin replacements), sorted by class name.

    ``names`` keeps only those classes (each must exist: a DefinitionError names a missing one).
    """
    from dalcore._dataobject import _by_name, _registry_lock, hybrid

    if names:
        return sorted({hybrid(name) for name in names}, key=lambda cls: cls.__name__)
    with _registry_lock:
        classes = set(_by_name.values())
    found = {cls._replacement() for cls in classes}
    # A class replaced by a plugin's subclass is shown as its replacement only.
    return sorted(found, key=lambda cls: (cls.__name__, cls.__module__))
