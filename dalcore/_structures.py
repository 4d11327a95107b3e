"""What a hybrid declares: :class:`Property`, :class:`Relation` and :class:`Dynamic`."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

from dalcore.errors import DefinitionError, ValidationError

#: The types a property or dynamic may have (besides a list of allowed values: an enum).
SIMPLE_TYPES: tuple[type, ...] = (str, int, float, bool, list, dict)

Check = Callable[[Any], Any]  # returns the value to keep, or raises TypeError/ValueError


def type_name(kind: Any) -> str:
    if isinstance(kind, list):
        return "one of " + ", ".join(repr(v) for v in kind)
    if kind is object:
        return "any JSON value"
    return str(kind.__name__)


def _any_decoded(value: Any) -> Any:
    return value  # whatever a JSON decoder made is a JSON value


def make_check(owner: str, name: str, kind: Any, decoded: bool = False) -> Check:
    """A function validating (and normalising) one value of type ``kind``; None always passes.

    Built once per field so that an assignment costs one call and an isinstance. ``decoded``:
    for values that come out of a JSON decoder, where a list or dict needs no walk.
    """
    if isinstance(kind, list):
        allowed = list(kind)

        def check_enum(value: Any) -> Any:
            if value is None or value in allowed:
                return value
            raise ValueError(f"{value!r} is not {type_name(allowed)}")

        return check_enum
    if kind is float:

        def check_float(value: Any) -> Any:
            if value is None or (type(value) is float and math.isfinite(value)):
                return value
            if type(value) is float:  # JSON has no NaN/Infinity: they would be stored as null
                raise ValueError(f"expected a finite float, got {value!r}")
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value)  # int is accepted for float, stored as float
            raise TypeError(f"expected float, got {type(value).__name__} {value!r}")

        return check_float
    if kind is int:

        def check_int(value: Any) -> Any:
            if value is None or (isinstance(value, int) and not isinstance(value, bool)):
                return value
            raise TypeError(f"expected int, got {type(value).__name__} {value!r}")

        return check_int
    if kind is object:  # any JSON value (the Valence layer's custom validators store this)
        if decoded:
            return _any_decoded

        def check_json(value: Any) -> Any:
            return None if value is None else json_value(value)

        return check_json
    if kind in (list, dict) and not decoded:

        def check_container(value: Any) -> Any:
            if value is None:
                return value
            if not isinstance(value, kind):
                raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
            return json_value(value)

        return check_container
    if kind in SIMPLE_TYPES:

        def check_simple(value: Any) -> Any:
            if value is None or isinstance(value, kind):
                return value
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")

        return check_simple
    raise DefinitionError(
        f"{owner}.{name}: type must be one of str, int, float, bool, list, dict, object (any JSON) "
        f"or a list of allowed values, not {kind!r}"
    )


_JSON_SCALARS = (str, int, bool, type(None))


def json_value(value: Any, at: str = "") -> Any:
    """``value`` as it will be stored and read back: a tuple becomes a list (JSON has only
    arrays). Raise ValueError for NaN and infinities (JSON has none: they would come back as
    null) and TypeError for what JSON cannot hold (sets, objects, non-str keys), naming where.

    Returns ``value`` itself unless a tuple had to be turned into a list.
    """
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise ValueError(f"{value!r} at {at or 'top level'}: JSON has no NaN or infinity")
    if kind is dict:
        changed = None
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"key {key!r} at {at or 'top level'}: keys must be str")
            kept = json_value(item, f"{at}[{key!r}]")
            if kept is not item:
                changed = changed or dict(value)
                changed[key] = kept
        return value if changed is None else changed
    if kind is list or kind is tuple:
        items = [json_value(item, f"{at}[{index}]") for index, item in enumerate(value)]
        if kind is tuple or any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    raise TypeError(f"{kind.__name__} {value!r} at {at or 'top level'} cannot be stored as JSON")


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise DefinitionError(f"{kind} name must be an identifier not starting with '_': {name!r}")


class Property:
    """A persistent, typed field.

    ``type`` is str, int, float, bool, list, dict or a list of allowed values (an enum).
    ``default`` is used for new objects and for stored objects written before the property
    existed; a mutable default is copied for every object. ``mandatory`` properties must not be
    None when saved. ``unique`` and ``indexed`` are used by queries.
    """

    __slots__ = ("default", "doc", "indexed", "mandatory", "name", "type", "unique")

    def __init__(
        self,
        name: str,
        type: Any,
        default: Any = None,
        doc: str | None = None,
        mandatory: bool = True,
        unique: bool = False,
        indexed: bool = False,
    ) -> None:
        _check_name("property", name)
        if isinstance(type, (tuple, set, frozenset)):
            raise DefinitionError(f"property {name!r}: give the allowed values as a list")
        self.name = name
        self.type = type
        self.default = default
        self.doc = doc
        self.mandatory = mandatory
        self.unique = unique
        self.indexed = indexed or unique

    def fresh_default(self) -> Any:
        default = self.default
        return copy.deepcopy(default) if isinstance(default, (list, dict)) else default

    def __repr__(self) -> str:
        return f"Property({self.name!r}, {type_name(self.type)})"


class Relation:
    """A link to one object of ``target``; the target gets ``reverse_name`` listing the linkers.

    ``target`` is a hybrid class, its name as a string (for classes defined later), or None for
    a relation to the declaring class itself. With ``onetoone`` the reverse side is a single
    object (or None) instead of a list.
    """

    __slots__ = ("doc", "mandatory", "name", "onetoone", "reverse_name", "target")

    def __init__(
        self,
        name: str,
        target: type | str | None,
        reverse_name: str,
        doc: str | None = None,
        mandatory: bool = True,
        onetoone: bool = False,
    ) -> None:
        _check_name("relation", name)
        _check_name("reverse relation", reverse_name)
        self.name = name
        self.target = target
        self.reverse_name = reverse_name
        self.doc = doc
        self.mandatory = mandatory
        self.onetoone = onetoone

    def __repr__(self) -> str:
        target = getattr(self.target, "__name__", self.target)
        return f"Relation({self.name!r}, {target!r}, {self.reverse_name!r})"


class Dynamic:
    """A computed value, cached in the volatile cache for ``timeout`` seconds.

    The value comes from the hybrid's method ``_<name>`` (called with the object, and with this
    Dynamic if the method takes an argument) or, when there is no such method, from a loader
    plugin that recognises ``source``. ``timeout`` 0 means computed on every read. With
    ``locked`` only one process at a time computes the value while the others wait for it.
    """

    __slots__ = ("doc", "lock_wait", "locked", "name", "source", "timeout", "type")

    def __init__(
        self,
        name: str,
        type: Any,
        timeout: float,
        locked: bool = False,
        doc: str | None = None,
        source: Any = None,
        lock_wait: float = 30.0,
    ) -> None:
        _check_name("dynamic", name)
        if not isinstance(timeout, (int, float)) or timeout < 0:
            raise DefinitionError(f"dynamic {name!r}: timeout must be >= 0 seconds: {timeout!r}")
        self.name = name
        self.type = type
        self.timeout = timeout
        self.locked = locked
        self.doc = doc
        self.source = source
        self.lock_wait = lock_wait

    def __repr__(self) -> str:
        return f"Dynamic({self.name!r}, {type_name(self.type)}, {self.timeout})"


def validated(owner: str, name: str, check: Check, value: Any) -> Any:
    """Run ``check`` and turn its complaint into a ValidationError naming ``owner.name``."""
    try:
        return check(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(owner, name, str(exc), value) from None


def unique_names(owner: str, groups: Sequence[Sequence[Any]]) -> None:
    seen: set[str] = set()
    for group in groups:
        for item in group:
            if item.name in seen:
                raise DefinitionError(f"{owner}: {item.name!r} is declared twice")
            seen.add(item.name)
