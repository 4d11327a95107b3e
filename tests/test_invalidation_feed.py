"""A process-local cache learns of other processes' commits through the store's watch.

Two runtimes over one store, each with its own in-process cache, stand for two processes: the
engine only ever talks to the current runtime, and the other one's cache is what a second
process would hold.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dalcore import _runtime
from dalcore._backends.local import LocalCache
from dalcore._backends.memory import MemoryStore
from dalcore._objcache import HOLD
from dalcore.testing._query_hybrids import Rack, Server

Pair = tuple[_runtime.Runtime, _runtime.Runtime]


@pytest.fixture
def two_processes() -> Iterator[Pair]:
    store = MemoryStore()
    first = _runtime.Runtime(store, LocalCache(), "feed", 600.0)
    second = _runtime.Runtime(store, LocalCache(), "feed", 600.0)
    yield first, second
    first.close()
    second.close()


def use(rt: _runtime.Runtime) -> None:
    _runtime._current = rt


def test_a_save_elsewhere_drops_the_cached_object(
    two_processes: tuple[_runtime.Runtime, _runtime.Runtime],
) -> None:
    first, second = two_processes
    use(first)
    rack = Rack(name="r1")
    rack.save()
    assert Rack(rack.guid).name == "r1"
    key = f"o:feed/rack/{rack.guid}"
    assert isinstance(first.cache.get(key), list)  # cached in the first "process"

    use(second)
    other = Rack(rack.guid)
    other.name = "r2"
    other.save()

    assert first.cache.get(key) == HOLD  # the watch event reached the first cache
    use(first)
    assert Rack(rack.guid).name == "r2"


def test_queries_and_reverse_lists_elsewhere_are_invalidated(
    two_processes: tuple[_runtime.Runtime, _runtime.Runtime],
) -> None:
    first, second = two_processes
    use(first)
    rack = Rack(name="r")
    rack.save()
    Server(name="s1", rack=rack).save()
    assert [s.name for s in Rack(rack.guid).servers] == ["s1"]
    assert len(Server.where(colour="red")) == 1
    assert Server.where(colour="red").explain()["cached"]

    use(second)
    Server(name="s2", rack=rack).save()

    use(first)
    assert sorted(s.name for s in Rack(rack.guid).servers) == ["s1", "s2"]
    result = Server.where(colour="red")
    assert len(result) == 2 and not result.explain()["cached"]


def test_no_feed_without_a_watch_or_for_a_shared_cache(
    two_processes: tuple[_runtime.Runtime, _runtime.Runtime],
) -> None:
    first, _ = two_processes
    assert first._watch is not None
    shared = _runtime.Runtime(MemoryStore(), _SharedCache(), "feed", 600.0)
    assert shared._watch is None
    shared.close()


class _SharedCache(LocalCache):
    process_local = False  # as memcached: every process sees the same entries
