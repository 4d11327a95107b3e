"""Hybrids shaped like the ones the original DAL's unit tests use: a disk-like ``Volume``
(unique name, float and int fields, two indexed fields, an enum, relations to a machine, a
one-to-one, one to itself, dynamics whose values a test sets) and ``Machine``, replaced by its
registered subclass ``BigMachine`` as the original replaced a hybrid by its extension."""

from __future__ import annotations

import random
from typing import Any, ClassVar

import dalcore
from dalcore import DataObject, Dynamic, Property, Relation


class Machine(DataObject):
    """Stands for the original's test machine."""

    __properties = [
        Property("name", str, doc="What it is called."),
        Property("description", str, mandatory=False, doc="Free text."),
    ]


class Volume(DataObject):
    """Stands for the original's test disk."""

    __properties = [
        Property("name", str, unique=True, doc="Unique among volumes."),
        Property("description", str, mandatory=False),
        Property("size", float, default=0, doc="Accepts ints, kept as floats."),
        Property("order", int, default=0),
        Property("tag", str, mandatory=False, indexed=True),
        Property("tag2", str, mandatory=False, indexed=True),
        Property("kind", ["ONE", "TWO"], mandatory=False),
    ]
    __relations = [
        Relation("machine", Machine, "volumes", mandatory=False),
        Relation("storage", Machine, "stored_volumes", mandatory=False),
        Relation("partner", Machine, "partner", mandatory=False, onetoone=True),
        Relation("parent", None, "children", mandatory=False),
    ]
    __dynamics = [
        Dynamic("used", int, 5, doc="A random part of size: stays while cached."),
        Dynamic("echo_int", int, 5),
        Dynamic("echo_str", str, 5),
        Dynamic("echo_list", list, 5),
        Dynamic("echo_dict", dict, 5),
        Dynamic("predictable", int, 5, doc="int(size)"),
    ]

    #: What the echo_* dynamics return, set by a test (class attributes, as in the original).
    echoes: ClassVar[dict[str, Any]] = {"int": 0, "str": "", "list": [], "dict": {}}

    def _used(self) -> int:
        return random.randint(0, 10**9)

    def _echo_int(self) -> Any:
        return Volume.echoes["int"]

    def _echo_str(self) -> Any:
        return Volume.echoes["str"]

    def _echo_list(self) -> Any:
        return Volume.echoes["list"]

    def _echo_dict(self) -> Any:
        return Volume.echoes["dict"]

    def _predictable(self) -> int:
        return int(self.size)


class BigMachine(Machine):
    """The original's extended machine: an extra property and a relation of its own."""

    __properties = [Property("extended", str, mandatory=False)]
    __relations = [Relation("favourite", Volume, "fans", mandatory=False)]


dalcore.register_hybrid(BigMachine)


class Router(DataObject):
    __properties = [Property("name", str)]


class Pool(DataObject):
    __properties = [Property("name", str)]


class Driver(DataObject):
    """Linked to a router and a pool, to compare objects reached by different paths."""

    __properties = [Property("name", str)]
    __relations = [Relation("router", Router, "drivers"), Relation("pool", Pool, "drivers")]


class Checked(DataObject):
    """A mandatory property and a mandatory relation."""

    __properties = [Property("label", str)]
    __relations = [Relation("router", Router, "checked")]
