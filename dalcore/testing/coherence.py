"""Consistency across processes: the multi-process suite every store x cache combination runs.

The guarantees under test (docs/consistency.md):

* a load that starts after a ``save()`` or ``delete()`` returned, in any process using the same
  store, never returns an older version (objects, reverse lists and query results alike);
* after a mutex is acquired, every load sees every commit that finished before;
* concurrent saves of different fields of one object lose nothing.

A backend's test module subclasses :class:`CoherenceBehaviour` and provides one fixture,
``coherence_urls``: the persistent URL and the volatile spec (one URL, or a per-process and a
shared one separated by a space) that the worker processes configure::

    class TestCoherenceOnSQLite(CoherenceBehaviour):
        @pytest.fixture(params=["memory://", "none://"])
        def coherence_urls(self, request, tmp_path):
            return f"sqlite://{tmp_path / 'c.db'}", request.param

Workers are real processes started together on a barrier; loops are bounded, and no test
waits for time to pass.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import dalcore
from dalcore.errors import ObjectNotFoundError, RaceConditionError
from dalcore.testing._engine_hybrids import Node, Tally
from dalcore.testing.conformance import run_processes

__all__ = ["CoherenceBehaviour"]

#: Processes and rounds: enough to lose updates or read stale versions every run without the
#: guarantees (seen on SQLite + in-process cache), small enough for a two-core machine.
PROCESSES = 4
INCREMENTS = 12
VERSIONS = 120


def _configure(urls: tuple[str, str], ns: str) -> None:
    dalcore.configure(urls[0], urls[1], namespace=ns)


def _shared_mutexes(volatile: str) -> bool:
    """Whether a VolatileMutex on this cache excludes other processes."""
    cache = dalcore.runtime().cache
    shared = getattr(cache, "shared", cache)
    return not shared.process_local and not volatile.startswith("none://")


# -- workers (module level: spawned processes import them) -----------------------------------


def _count_under_mutex(
    barrier: Any, urls: tuple[str, str], ns: str, guid: str, times: int, kind: str
) -> int:
    """Increment the shared counter ``times`` times, each a read-modify-write under a mutex.

    The object is loaded once before the start, so a per-process cache holds an old copy.
    """
    _configure(urls, ns)
    Tally(guid).shared  # noqa: B018 - warm this process's cache
    barrier.wait(60)
    for _ in range(times):
        if kind == "persistent":
            mutex: Any = dalcore.PersistentMutex(f"counter-{guid}", ttl=10, wait=60)
        else:
            mutex = dalcore.VolatileMutex(dalcore.runtime().cache, f"counter-{guid}", 10, 60)
        with mutex:
            tally = Tally(guid)
            tally.shared += 1
            tally.save()
    return times


def _versions(
    barrier: Any, urls: tuple[str, str], ns: str, guid: str, rounds: int, role: str
) -> str:
    return (_write_versions if role == "write" else _read_versions)(barrier, urls, ns, guid, rounds)


def _write_versions(barrier: Any, urls: tuple[str, str], ns: str, guid: str, rounds: int) -> str:
    """Save version 1..rounds of a node (every 10th round also adds a child), each followed by
    two barrier rounds: the reader loads between them. Then delete the node."""
    _configure(urls, ns)
    node = Node(guid)
    for version in range(1, rounds + 1):
        node.label = f"v{version}"
        node.save()
        if version % 10 == 0:
            Node(label=f"child{version}", parent=node).save()
        barrier.wait(60)  # the save returned
        barrier.wait(60)  # the reader has looked
    node.delete(abandon=["children"])
    barrier.wait(60)
    return "done"


def _read_versions(barrier: Any, urls: tuple[str, str], ns: str, guid: str, rounds: int) -> str:
    """Load the node right after each save returned; any older version is a failure."""
    _configure(urls, ns)
    seen: list[str] = []
    for version in range(1, rounds + 1):
        barrier.wait(60)
        node = Node(guid)
        label, children = node.label, len(node.children)
        matches = [n.guid for n in Node.where(label=f"v{version}")]
        if label != f"v{version}" or children != version // 10 or matches != [guid]:
            seen.append(f"round {version}: label {label}, {children} children, query {matches}")
        barrier.wait(60)
    barrier.wait(60)
    try:
        Node(guid)
        seen.append("loaded after its delete returned")
    except ObjectNotFoundError:
        pass
    return "; ".join(seen[:5]) + (f" (+{len(seen) - 5} more)" if len(seen) > 5 else "")


def _save_own_field(
    barrier: Any, urls: tuple[str, str], ns: str, guid: str, field: str, times: int
) -> int:
    """Save ``field`` ``times`` times on one object others save too; return the give-ups."""
    _configure(urls, ns)
    Tally(guid).note  # noqa: B018 - warm this process's cache
    barrier.wait(60)
    gave_up = 0
    done = 0
    while done < times:
        tally = Tally(guid)
        setattr(tally, field, getattr(tally, field) + 1)
        try:
            tally.save()
        except RaceConditionError:
            gave_up += 1  # refused, not lost: redone on a fresh load
            continue
        done += 1
    return gave_up


class CoherenceBehaviour:
    """Multi-process consistency tests; subclass with a ``coherence_urls`` fixture."""

    @pytest.fixture
    def coherence_urls(self) -> tuple[str, str]:
        raise NotImplementedError(f"{type(self).__name__} must define a `coherence_urls` fixture")

    @pytest.fixture
    def ns(self, coherence_urls: tuple[str, str]) -> Any:
        namespace = "c" + uuid.uuid4().hex[:12]
        _configure(coherence_urls, namespace)
        yield namespace
        dalcore.configure("memory://", "memory://", namespace="dalcore")

    def _stored(self, urls: tuple[str, str], ns: str, guid: str) -> Tally:
        """The object as the store holds it, read by a fresh configuration without a cache."""
        dalcore.configure(urls[0], "none://", namespace=ns)
        return Tally(guid)

    @pytest.mark.slow
    @pytest.mark.parametrize("kind", ["persistent", "volatile"])
    def test_no_update_is_lost_under_a_mutex(
        self, coherence_urls: tuple[str, str], ns: str, kind: str
    ) -> None:
        if kind == "volatile" and not _shared_mutexes(coherence_urls[1]):
            pytest.skip(f"a VolatileMutex on {coherence_urls[1]} cannot exclude other processes")
        tally = Tally()
        tally.save()
        args = (coherence_urls, ns, tally.guid, INCREMENTS, kind)
        run_processes(_count_under_mutex, [args] * PROCESSES)
        assert self._stored(coherence_urls, ns, tally.guid).shared == PROCESSES * INCREMENTS

    @pytest.mark.slow
    def test_a_load_after_a_save_returned_is_never_older(
        self, coherence_urls: tuple[str, str], ns: str
    ) -> None:
        node = Node(label="v0")
        node.save()
        args = (coherence_urls, ns, node.guid, VERSIONS)
        writer, reader = run_processes(_versions, [(*args, "write"), (*args, "read")], 300)
        assert writer == "done"
        assert reader == "", f"stale reads: {reader}"

    @pytest.mark.slow
    def test_concurrent_saves_of_own_fields_lose_nothing(
        self, coherence_urls: tuple[str, str], ns: str
    ) -> None:
        tally = Tally()
        tally.save()
        args = [(coherence_urls, ns, tally.guid, f"c{i}", INCREMENTS * 2) for i in range(4)]
        run_processes(_save_own_field, args, timeout=300)
        stored = self._stored(coherence_urls, ns, tally.guid)
        assert [getattr(stored, f"c{i}") for i in range(4)] == [INCREMENTS * 2] * 4
