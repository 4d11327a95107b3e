"""``base.ObjectBase``: Valence's plain (not stored) object with validated ``fields``.

Valence used it for the values its API handed around and as the class ``types.Custom`` builds
from a dict. Its models derived from it too; here models are
:class:`dalcore.compat.valence.ModelBase` (a stored hybrid), and ``ObjectBase`` stays the small
in-memory class: each assignment of a declared field goes through its ``validate``, other
attributes are kept as they are, ``as_dict()`` renders the fields that were set, nested objects
included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = ["ObjectBase", "to_json"]


def to_json(value: Any) -> Any:
    """``value`` as JSON data: objects with ``as_dict()`` (or ``__json__()``) become their dict,
    other objects the dict of their public attributes, inside lists and dicts too; values
    without attributes (a set, a datetime) are returned as they are, for the property check
    to refuse by name."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    for method in ("as_dict", "__json__"):
        render = getattr(value, method, None)
        if callable(render):
            return to_json(render())
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return {k: to_json(v) for k, v in attributes.items() if not k.startswith("_")}
    return value


class ObjectBase:
    """Set ``fields = {'name': {'validate': callable}, ...}`` on a subclass."""

    fields: ClassVar[dict[str, Any]] = {}

    def __init__(self, **values: Any) -> None:
        for name in self.fields:
            if name in values:
                setattr(self, name, values[name])

    def __setattr__(self, name: str, value: Any) -> None:
        spec = self.fields.get(name)
        if spec is not None:
            value = spec["validate"](value)
        object.__setattr__(self, name, value)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def update(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """The fields that were assigned, as JSON data (a new dict each time)."""
        rendered: dict[str, Any] = to_json(
            {name: self.__dict__[name] for name in self.fields if name in self.__dict__}
        )
        return rendered

    def __json__(self) -> dict[str, Any]:
        return self.as_dict()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_dict()!r})"
