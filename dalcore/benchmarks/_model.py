"""The hybrids the benchmarks store: ten fields, a relation, cached and locked dynamics."""

from __future__ import annotations

import os
import time
from typing import Any

from dalcore._dataobject import DataObject
from dalcore._structures import Dynamic, Property, Relation

#: The locked-dynamic loaders append one line per call to the file named here (set by the
#: parent before its worker processes start), so calls are counted outside every cache.
LOADER_LOG_ENV = "DALCORE_BENCH_LOADER_LOG"
#: How long the counted loaders take: long enough that all workers arrive while it runs.
LOADER_SECONDS = 0.3
#: How many stored objects the indexed query matches, whatever the number stored.
QUERY_MATCHES = 100


class BenchGroup(DataObject):
    """A parent object: its reverse list ``items`` is what the list cases read."""

    path = "bench_group"
    __properties = [Property("name", str)]
    __relations: list[Relation] = []
    __dynamics: list[Dynamic] = []


class BenchItem(DataObject):
    """About the size of an Open vStorage hybrid: ten stored fields, two dynamics."""

    path = "bench_item"
    __properties = [
        Property("name", str),
        Property("status", ["NEW", "RUNNING", "STOPPED", "FAILURE"], default="NEW"),
        Property("size", int, default=0),
        Property("ratio", float, default=0.0),
        Property("enabled", bool, default=True),
        Property("description", str, default=""),
        Property("owner", str, default="nobody"),
        Property("tags", list, default=[]),
        Property("settings", dict, default={}),
        # What the query cases look up: 100 objects hold "hit", the others one of 500 values.
        Property("bucket", str, default="", indexed=True),
    ]
    __relations = [Relation("group", BenchGroup, "items", mandatory=False)]
    __dynamics = [Dynamic("score", int, 3600), Dynamic("score_now", int, 0)]

    def _score(self) -> int:
        return len(self.__dict__["name"]) * 7 + 1

    def _score_now(self) -> int:
        return len(self.__dict__["name"]) * 7 + 1


def _counted_loader() -> int:
    path = os.environ[LOADER_LOG_ENV]
    with open(path, "a") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(LOADER_SECONDS)
    return 42


class BenchLocked(DataObject):
    """One locked and one unlocked dynamic with a slow, counted loader."""

    path = "bench_locked"
    __properties = [Property("name", str)]
    __relations: list[Relation] = []
    __dynamics = [Dynamic("locked_value", int, 60, locked=True), Dynamic("free_value", int, 60)]

    def _locked_value(self) -> int:
        return _counted_loader()

    def _free_value(self) -> int:
        return _counted_loader()


def item_fields(index: int) -> dict[str, Any]:
    return {
        "name": f"item-{index:06d}",
        "status": "RUNNING",
        "size": index * 1024,
        "ratio": index / 3,
        "enabled": index % 2 == 0,
        "description": "a benchmark object of about the size of an Open vStorage hybrid",
        "owner": f"owner-{index % 17}",
        "tags": ["bench", f"t{index % 5}"],
        "settings": {"replicas": 3, "zone": f"z{index % 3}"},
        "bucket": "hit" if index < QUERY_MATCHES else f"other-{index % 500}",
    }


def make_item(index: int, group: BenchGroup | None = None) -> BenchItem:
    item = BenchItem(**item_fields(index))
    if group is not None:
        item.group = group
    item.save()
    return item
