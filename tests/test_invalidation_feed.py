"""A process-local cache learns of other processes' commits through the store's watch.

Two runtimes over one store, each with its own in-process cache, stand for two processes: the
engine only ever talks to the current runtime, and the other one's cache is what a second
process would hold.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dalcore
from dalcore._backends.local import LocalCache
from dalcore._backends.memory import MemoryStore
from dalcore._layout import is_hold
from dalcore.testing._query_hybrids import Rack, Server

Pair = tuple[dalcore.Runtime, dalcore.Runtime]


@pytest.fixture
def two_processes() -> Iterator[Pair]:
    store = MemoryStore()
    first = dalcore.open_runtime(store, "memory://", namespace="feed", hybrids=())
    second = dalcore.open_runtime(store, "memory://", namespace="feed", hybrids=())
    yield first, second
    first.close()
    second.close()


def test_a_save_elsewhere_drops_the_cached_object(
    two_processes: Pair,
) -> None:
    first, second = two_processes
    with dalcore.using(first):
        rack = Rack(name="r1")
        rack.save()
        assert Rack(rack.guid).name == "r1"
    key = f"o:feed/rack/{rack.guid}"
    assert isinstance(first.cache.get(key), list)  # cached in the first "process"

    with dalcore.using(second):
        other = Rack(rack.guid)
        other.name = "r2"
        other.save()

    assert is_hold(first.cache.get(key))  # the watch event reached the first cache
    with dalcore.using(first):
        assert Rack(rack.guid).name == "r2"


def test_queries_and_reverse_lists_elsewhere_are_invalidated(
    two_processes: Pair,
) -> None:
    first, second = two_processes
    with dalcore.using(first):
        rack = Rack(name="r")
        rack.save()
        Server(name="s1", rack=rack).save()
        assert [s.name for s in Rack(rack.guid).servers] == ["s1"]
        assert len(Server.where(colour="red")) == 1
        assert Server.where(colour="red").explain()["cached"]

    with dalcore.using(second):
        Server(name="s2", rack=rack).save()

    with dalcore.using(first):
        assert sorted(s.name for s in Rack(rack.guid).servers) == ["s1", "s2"]
        result = Server.where(colour="red")
        assert len(result) == 2 and not result.explain()["cached"]


def test_no_feed_without_a_watch_or_for_a_shared_cache(
    two_processes: Pair,
) -> None:
    first, _ = two_processes
    assert first._watch is not None
    shared = dalcore.open_runtime(MemoryStore(), _SharedCache(), namespace="feed", hybrids=())
    assert shared._watch is None
    shared.close()


class _SharedCache(LocalCache):
    process_local = False  # as memcached: every process sees the same entries
