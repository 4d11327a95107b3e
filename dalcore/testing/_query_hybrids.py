"""Hybrids used by the query suite (module level: created once, importable by worker processes)."""

from __future__ import annotations

from dalcore import DataObject, Dynamic, Property, Relation

COLOURS = ["red", "green", "blue"]


class Rack(DataObject):
    """A rack holding servers."""

    __properties = [
        Property("name", str, indexed=True),
        Property("site", str, default="ams", mandatory=False),
    ]


class Server(DataObject):
    """A server in a rack."""

    __properties = [
        Property("name", str),
        Property("serial", str, unique=True, mandatory=False),
        Property("colour", COLOURS, default="red", indexed=True),
        Property("cores", int, default=1, indexed=True),
        Property("load", float, default=0.0),
        Property("tags", list, default=[]),
        Property("enabled", bool, default=True),
    ]
    __relations = [Relation("rack", Rack, "servers", mandatory=False)]
    __dynamics = [Dynamic("capacity", int, 60)]

    def _capacity(self) -> int:
        return int(self.cores) * 10


class Ticket(DataObject):
    """Something with a unique code, for unique-constraint races across processes."""

    __properties = [Property("code", str, unique=True), Property("owner", str, default="")]


class Counter(DataObject):
    """A counter incremented under a mutex by several processes."""

    __properties = [Property("value", int, default=0)]
