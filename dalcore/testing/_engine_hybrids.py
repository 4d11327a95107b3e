"""The hybrids the engine behaviour suite exercises.

Classes are created once per process, so they live at module level (spawned worker processes
import them from here too). Loader calls are counted in :data:`CALLS`, keyed by object guid and
dynamic name: every test uses fresh objects, so counts never leak between tests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from dalcore import DataObject, Dynamic, Property, Relation
from dalcore.testing._seed_backend import Backend
from dalcore.testing._seed_backendtype import BackendType

__all__ = [
    "CALLS",
    "AlbaBackend",
    "Animal",
    "Backend",
    "BackendType",
    "Disk",
    "Dog",
    "Gadget",
    "Gauge",
    "Host",
    "HostDisk",
    "Leaf",
    "Node",
    "Person",
    "PodManager",
    "Sample",
    "Shelf",
    "SmartGadget",
    "Tally",
    "Tree",
    "Widget",
    "count_call",
]

CALLS: Counter[tuple[str, str]] = Counter()
_calls_lock = threading.Lock()


def count_call(obj: DataObject, name: str) -> int:
    """Record one loader run for ``obj.name``; returns how many there were so far."""
    with _calls_lock:
        CALLS[(obj.guid, name)] += 1
        return CALLS[(obj.guid, name)]


class AlbaBackend(DataObject):
    """The detail hybrid of an 'alba' Backend: the one-to-one link the seed's dynamics follow."""

    __properties = [Property("healthy", bool, default=True, doc="Whether it can serve.")]
    __relations = [Relation("backend", Backend, "alba_backend", onetoone=True, doc="Its backend.")]
    __dynamics = [Dynamic("available", bool, 0, doc="Healthy right now.")]

    def _available(self) -> bool:
        return bool(self.healthy)


# -- inheritance, self relations, lazy targets -----------------------------------------------


class Person(DataObject):
    """Someone owning animals."""

    __properties = [Property("name", str, doc="Full name.")]
    __relations = [
        Relation("mentor", None, "mentees", mandatory=False, doc="Who teaches them."),
        Relation("partner", None, "partner_of", mandatory=False, onetoone=True, doc="Spouse."),
    ]


class Animal(DataObject):
    """An animal; the base of Dog."""

    __properties = [
        Property("name", str, doc="What it answers to."),
        Property("legs", int, default=4, doc="Leg count."),
        Property("tags", list, default=[], doc="Free labels."),
        Property("traits", dict, default={}, doc="Free attributes."),
    ]
    __relations = [Relation("owner", Person, "animals", mandatory=False, doc="Who feeds it.")]
    __dynamics = [Dynamic("sound", str, 0, doc="What it says.")]

    def _sound(self) -> str:
        return "..."


class Dog(Animal):
    """A dog: Animal's lists, extended (breed, fetches) and one property redeclared (legs)."""

    __properties = [
        Property("breed", str, mandatory=False, doc="Kind of dog."),
        Property("legs", int, default=3, doc="This kennel's dogs lost one."),
    ]
    __dynamics = [Dynamic("fetches", bool, 0, doc="Whether it brings the ball back.")]

    def _sound(self) -> str:
        return "woof"

    def _fetches(self) -> bool:
        return bool(self.breed != "basset")


class Node(DataObject):
    """A tree node: a self relation declared with target None."""

    __properties = [Property("label", str)]
    __relations = [Relation("parent", None, "children", mandatory=False, doc="Parent node.")]


class Leaf(DataObject):
    """Names its target, Tree, as a string: Tree is defined below."""

    __properties = [Property("colour", ["green", "brown"], default="green")]
    __relations = [Relation("tree", "Tree", "leaves", doc="The tree it grows on.")]


class Tree(DataObject):
    """The lazily named target of Leaf.tree."""

    __properties = [Property("species", str)]


# -- many-to-many through a junction ---------------------------------------------------------


class Host(DataObject):
    __properties = [Property("name", str)]


class Disk(DataObject):
    __properties = [Property("name", str)]


class HostDisk(DataObject):
    """Junction: one row per (host, disk) pair."""

    __properties = [Property("lun", int, default=0)]
    __relations = [
        Relation("host", Host, "disk_links", doc="The host seeing the disk."),
        Relation("disk", Disk, "host_links", doc="The disk seen by the host."),
    ]


# -- storage layout ------------------------------------------------------------------------


class Shelf(DataObject):
    path = "shelves"
    __properties = [Property("label", str)]


class PodManager(DataObject):
    """Laid out as Valence does: an absolute path outside the namespace."""

    path = "/pod_managers"
    __properties = [Property("name", str), Property("url", str, mandatory=False)]


# -- values of every type ------------------------------------------------------------------


class Sample(DataObject):
    """One optional property of each type, for round trips and validation."""

    __properties = [
        Property("text", str, mandatory=False),
        Property("number", int, mandatory=False),
        Property("ratio", float, mandatory=False),
        Property("flag", bool, mandatory=False),
        Property("items", list, mandatory=False),
        Property("mapping", dict, mandatory=False),
        Property("colour", ["red", "green", "blue"], mandatory=False),
    ]


class Tally(DataObject):
    """Counters that concurrent writers increment, each its own field or all the same one."""

    __properties = [Property(f"c{index}", int, default=0) for index in range(4)] + [
        Property("shared", int, default=0),
        Property("log", list, default=[]),
        Property("note", str, mandatory=False),
    ]


# -- dynamics ------------------------------------------------------------------------------

#: How long the locked dynamic's loader takes: long enough that 16 threads all arrive before it
#: finishes, so an unlocked implementation would run it several times.
SLOW_SECONDS = 0.3


class Gauge(DataObject):
    """One dynamic per behaviour: cached, uncached, None, wrong type, raising, locked."""

    __properties = [Property("name", str), Property("level", int, default=0)]
    __dynamics = [
        Dynamic("cached", int, 1, doc="level, cached for a second"),
        Dynamic("uncached", int, 0, doc="level, computed on every read"),
        Dynamic("nothing", str, 60, doc="always None (a value worth caching)"),
        Dynamic("wrong", int, 60, doc="returns a str: fails its type check"),
        Dynamic("broken", int, 60, doc="its loader raises"),
        Dynamic("slow", int, 30, locked=True, doc="slow loader, computed once across callers"),
        Dynamic("described", str, 0, doc="its loader takes the Dynamic"),
    ]

    def _cached(self) -> int:
        count_call(self, "cached")
        return int(self.level)

    def _uncached(self) -> int:
        count_call(self, "uncached")
        return int(self.level)

    def _nothing(self) -> None:
        count_call(self, "nothing")
        return None

    def _wrong(self) -> Any:
        count_call(self, "wrong")
        return "not an int"

    def _broken(self) -> int:
        count_call(self, "broken")
        raise RuntimeError("sensor unplugged")

    def _slow(self) -> int:
        count_call(self, "slow")
        time.sleep(SLOW_SECONDS)
        return int(self.level) * 10

    def _described(self, dynamic: Dynamic) -> str:
        return f"{dynamic.name}/{dynamic.timeout}"


# -- plugin replacement --------------------------------------------------------------------


class Gadget(DataObject):
    __properties = [Property("name", str)]


class Widget(DataObject):
    __properties = [Property("name", str)]
    __relations = [Relation("gadget", Gadget, "widgets")]


class SmartGadget(Gadget):
    """What a plugin registers to extend Gadget (only the replacement test registers it)."""

    __properties = [Property("firmware", str, default="1.0", mandatory=False)]
    __dynamics = [Dynamic("smart", bool, 0)]

    def _smart(self) -> bool:
        return True
