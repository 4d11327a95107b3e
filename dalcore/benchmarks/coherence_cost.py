"""The load paths the cross-process guarantees touch, timed in this process.

    python dalcore/benchmarks/coherence_cost.py              # the dalcore on sys.path
    PYTHONPATH=/path/to/other/checkout python dalcore/benchmarks/coherence_cost.py

Run it once with the current tree and once with an older checkout on PYTHONPATH (a
``git worktree add --detach /tmp/old <commit>`` and its ``plugins/*/src``) to compare: the
numbers in docs/benchmarks/coherence-before-after.md were taken that way. Each figure is
the median of five best-of-three runs of 20,000 calls.
"""

from __future__ import annotations

import statistics
import tempfile
import timeit
from collections.abc import Callable

import dalcore
from dalcore import DataObject, Property, Relation


class CostItem(DataObject):
    __properties = [
        Property("name", str),
        Property("size", int, default=0),
        Property("status", ["A", "B"], default="A"),
    ]


class CostChild(DataObject):
    __properties = [Property("n", int, default=0)]
    __relations = [Relation("item", CostItem, "children")]


def per_call(operation: Callable[[], object], number: int = 20_000) -> float:
    runs = [min(timeit.repeat(operation, number=number, repeat=3)) / number for _ in range(5)]
    return statistics.median(runs)


def main() -> None:
    print(f"dalcore from {dalcore.__file__}")
    workdir = tempfile.mkdtemp()
    for store in ("memory://", f"sqlite://{workdir}/cost.db"):
        dalcore.configure(store, "memory://", namespace="cost", hybrids=())
        item = CostItem(name="x")
        item.save()
        CostChild(item=item).save()  # right before the reads, as a busy service would
        guid, loaded = item.guid, CostItem(item.guid)
        figures = {
            "cached load": per_call(lambda: CostItem(guid)),  # noqa: B023 - used right here
            "reverse list length (one child saved just before)": per_call(
                lambda: len(loaded.children)  # noqa: B023
            ),
        }
        shown = ", ".join(f"{name} {seconds * 1e6:.2f} us" for name, seconds in figures.items())
        print(f"{store.split(':')[0]} store, in-process cache: {shown}")


if __name__ == "__main__":
    main()
