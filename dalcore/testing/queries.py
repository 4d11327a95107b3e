"""Behaviour suite for queries, indexes, unique values, the query cache, transactions and mutexes.

Like the store conformance suite, a backend's tests subclass :class:`QueryBehaviour` and provide
the fixture ``backends`` returning a fresh ``(PersistentStore, VolatileCache)``; the optional
``backend_urls`` fixture returns ``(persistent_url, volatile_url)`` that other processes can
open to reach the same data, enabling the multi-process tests. The suite configures dalcore with
a unique namespace per test.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dalcore
from dalcore import (
    DataList,
    DataObject,
    LockTimeoutError,
    Operator,
    PersistentMutex,
    Property,
    VolatileMutex,
    WhereOperator,
    transaction,
)
from dalcore.errors import QueryError, TransactionConflictError, UniqueConstraintError
from dalcore.testing._instrument import InstrumentedStore
from dalcore.testing._query_hybrids import COLOURS, Counter, Rack, Server, Ticket
from dalcore.testing.conformance import run_processes

__all__ = ["QueryBehaviour"]

OPS = ["EQUALS", "NOT_EQUALS", "LT", "GT", "IN", "CONTAINS"]


# -- a reference evaluator, independent of dalcore's own --------------------------------------


def _holds(obj: dict[str, Any], item: tuple[Any, ...]) -> bool:
    field, op, value = item[0], item[1], item[2]
    ignorecase = len(item) == 4 and item[3] is False  # the original's case_sensitive flag
    actual = obj[field]
    if ignorecase:
        actual = actual.lower() if isinstance(actual, str) else actual
        value = [v.lower() for v in value] if op == "IN" else value.lower()
    if op == "EQUALS":
        return bool(actual == value)
    if op == "NOT_EQUALS":
        return bool(actual != value)
    if op == "IN":
        return actual in value
    if op == "CONTAINS":
        return value in actual if actual is not None else False
    if actual is None:
        return False
    return bool(actual < value) if op == "LT" else bool(actual > value)


def _reference(objects: list[dict[str, Any]], query: dict[str, Any]) -> set[str]:
    def match(obj: dict[str, Any], node: dict[str, Any]) -> bool:
        results = [
            match(obj, item) if isinstance(item, dict) else _holds(obj, item)
            for item in node["items"]
        ]
        return all(results) if node["type"] == "AND" else any(results)

    return {obj["guid"] for obj in objects if match(obj, query)}


_conditions = st.one_of(
    st.tuples(
        st.just("colour"), st.sampled_from(["EQUALS", "NOT_EQUALS"]), st.sampled_from(COLOURS)
    ),
    st.tuples(st.just("colour"), st.just("IN"), st.lists(st.sampled_from(COLOURS), max_size=3)),
    st.tuples(
        st.just("cores"), st.sampled_from(["EQUALS", "NOT_EQUALS", "LT", "GT"]), st.integers(0, 6)
    ),
    st.tuples(st.just("cores"), st.just("IN"), st.lists(st.integers(0, 6), max_size=3)),
    st.tuples(st.just("name"), st.sampled_from(["EQUALS", "LT", "GT"]), st.sampled_from("abcAB")),
    st.tuples(
        st.just("name"),
        st.sampled_from(["EQUALS", "CONTAINS"]),
        st.sampled_from("abAB"),
        st.booleans(),  # case_sensitive
    ),
    st.tuples(st.just("tags"), st.just("CONTAINS"), st.sampled_from(["x", "y"])),
    st.tuples(st.just("load"), st.sampled_from(["LT", "GT"]), st.floats(0, 3)),
    st.tuples(st.just("enabled"), st.just("EQUALS"), st.booleans()),
)
_queries = st.recursive(
    st.builds(
        lambda kind, items: {"type": kind, "items": items},
        st.sampled_from(["AND", "OR"]),
        st.lists(_conditions, min_size=1, max_size=3),
    ),
    lambda inner: st.builds(
        lambda kind, items: {"type": kind, "items": items},
        st.sampled_from(["AND", "OR"]),
        st.lists(st.one_of(_conditions, inner), min_size=1, max_size=3),
    ),
    max_leaves=6,
)


# -- worker processes (module level, so "spawn" can import them) --------------------------------


def _claim(barrier: Any, urls: tuple[str, str], namespace: str, code: str) -> str:
    dalcore.configure(urls[0], urls[1], namespace=namespace)
    barrier.wait(60)
    try:
        Ticket(code=code, owner=str(os.getpid())).save()
    except UniqueConstraintError:
        return "unique"
    return "saved"


def _count_under_mutex(
    barrier: Any, urls: tuple[str, str], namespace: str, guid: str, rounds: int
) -> None:
    dalcore.configure(urls[0], urls[1], namespace=namespace)
    barrier.wait(60)
    for _ in range(rounds):
        with PersistentMutex("counter", ttl=10, wait=60):
            counter = Counter(guid)
            counter.value += 1
            # datastore_wins=None: without the mutex a lost update would raise, not hide.
            counter.save(datastore_wins=None)


def _hold_and_die(urls: tuple[str, str], namespace: str, ready: Any) -> None:
    dalcore.configure(urls[0], urls[1], namespace=namespace)
    PersistentMutex("doomed", ttl=1.5, wait=5).acquire()
    ready.set()
    time.sleep(60)  # killed by the test while holding the mutex


class QueryBehaviour:
    """Queries, indexes, unique values, query cache, transactions and mutexes."""

    @pytest.fixture
    def backends(self) -> Any:
        raise NotImplementedError("a backend's test class provides the 'backends' fixture")

    @pytest.fixture
    def backend_urls(self) -> Any:
        pytest.skip("these backends are per-process: no multi-process query tests")

    @pytest.fixture
    def namespace(self) -> str:
        return "q" + uuid.uuid4().hex[:12]

    @pytest.fixture
    def store(self, backends: Any, namespace: str) -> Iterator[InstrumentedStore]:
        store, cache = backends
        instrumented = InstrumentedStore(store)
        dalcore.configure(instrumented, cache, namespace=namespace)
        yield instrumented

    @pytest.fixture
    def fleet(self, store: InstrumentedStore) -> dict[str, Any]:
        """Two racks and 24 servers with varied fields, written in one transaction."""
        racks = [Rack(name="r1", site="ams"), Rack(name="r2", site="bru")]
        servers = []
        with transaction():
            for rack in racks:
                rack.save()
            for i in range(24):
                server = Server(
                    name="abcAB"[i % 5] + str(i),
                    serial=f"S{i:03}",
                    colour=COLOURS[i % 3],
                    cores=i % 7,
                    load=(i % 4) * 0.75,
                    tags=["x"] if i % 2 else ["y", "x"] if i % 5 == 0 else [],
                    enabled=i % 3 != 0,
                    rack=racks[i % 2] if i % 6 else None,
                )
                server.save()
                servers.append(server)
        return {"racks": racks, "servers": servers}

    # -- operators and combinations ------------------------------------------------------------

    def test_a_fourth_element_false_matches_ignoring_case(self, fleet: dict[str, Any]) -> None:
        # The original DAL's item is (field, operator, value, case_sensitive).
        def names(value: str, *flag: bool) -> list[str]:
            items = [("name", DataList.operator.EQUALS, value, *flag)]
            query = {"type": DataList.where_operator.AND, "items": items}
            return sorted(s.name for s in DataList(Server, query))

        assert names("A0", False) == ["a0"] and names("a0", False) == ["a0"]
        assert names("A0", True) == [] and names("A0") == [] and names("a0", True) == ["a0"]

    def test_an_empty_query_returns_every_object(self, fleet: dict[str, Any]) -> None:
        every = sorted(s.guid for s in fleet["servers"])
        for query in (None, {}, {"type": DataList.where_operator.AND, "items": []}):
            assert sorted(DataList(Server, query).guids) == every, query
        assert sorted(Server.all().guids) == every

    @settings(
        max_examples=60,
        deadline=None,
        # Each backend subclass runs the same method: that is the point of a shared suite.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(query=_queries)
    def test_any_query_matches_a_brute_force_filter(
        self, fleet: dict[str, Any], query: dict[str, Any]
    ) -> None:
        documents = [s.serialize() for s in fleet["servers"]]
        assert set(DataList(Server, query).guids) == _reference(documents, query)

    @pytest.mark.parametrize(
        ("filters", "query"),
        [
            ({"colour": "red"}, [("colour", "EQUALS", "red")]),
            ({"cores__gt": 3, "cores__lt": 6}, [("cores", "GT", 3), ("cores", "LT", 6)]),
            ({"colour__in": ["red", "blue"]}, [("colour", "IN", ["red", "blue"])]),
            ({"name__icontains": "A"}, [("name", "CONTAINS", "A", False)]),
            ({"name__ieq": "A0"}, [("name", "EQUALS", "A0", False)]),
            ({"tags__contains": "y"}, [("tags", "CONTAINS", "y")]),
            (
                {"colour__ne": "red", "enabled": True},
                [("colour", "NOT_EQUALS", "red"), ("enabled", "EQUALS", True)],
            ),
            ({"rack__name": "r2"}, [("rack.name", "EQUALS", "r2")]),
            ({"rack__site__in": ["bru"]}, [("rack.site", "IN", ["bru"])]),
            ({"capacity__gt": 40}, [("capacity", "GT", 40)]),
        ],
    )
    def test_keyword_filters_compile_to_the_original_form(
        self, fleet: dict[str, Any], filters: dict[str, Any], query: list[Any]
    ) -> None:
        by_keywords = Server.where(**filters)
        by_dict = DataList(Server, {"type": DataList.where_operator.AND, "items": query})
        assert by_keywords._group == by_dict._group
        assert set(by_keywords.guids) == set(by_dict.guids)
        assert len(by_keywords) > 0

    def test_guid_relation_and_path_fields(self, fleet: dict[str, Any]) -> None:
        servers, racks = fleet["servers"], fleet["racks"]
        assert Server.where(guid=servers[3].guid).guids == [servers[3].guid]
        assert Server.where(guid="no-such-guid").guids == []
        in_r1 = {s.guid for s in servers if s.rack_guid == racks[0].guid}
        assert set(Server.where(rack_guid=racks[0].guid).guids) == in_r1
        assert set(Server.where(rack=racks[0]).guids) == in_r1
        assert set(Server.where(rack__name="r1").guids) == in_r1
        unracked = {s.guid for s in servers if s.rack_guid is None}
        assert set(Server.where(rack_guid=None).guids) == unracked
        ams_or_none = DataList(
            Server,
            {
                "type": "OR",
                "items": [("rack.site", "EQUALS", "ams"), ("rack_guid", "EQUALS", None)],
            },
        )
        assert set(ams_or_none.guids) == in_r1 | unracked

    def test_dynamics_can_be_queried(self, fleet: dict[str, Any]) -> None:
        expected = {s.guid for s in fleet["servers"] if s.cores * 10 >= 50}
        result = DataList(Server, {"type": "OR", "items": [("capacity", "GT", 49)]})
        assert set(result.guids) == expected
        assert result.explain()["use"] == "scan"

    # -- the result list -----------------------------------------------------------------------

    def test_result_is_a_lazy_list(self, fleet: dict[str, Any], store: InstrumentedStore) -> None:
        result = Server.where(colour="green")
        expected = sorted(s.guid for s in fleet["servers"] if s.colour == "green")
        store.reset()
        assert sorted(result.guids) == expected
        assert store.calls["get_many"] == 0  # the guid list loads no object
        assert len(result) == len(expected)
        assert result[0].guid in expected and all(isinstance(s, Server) for s in result[1:3])
        ordered = result.order_by("-cores", "name")
        keys = [(-s.cores, s.name) for s in ordered]
        assert keys == sorted(keys)
        assert [s.guid for s in ordered.page(2, 3)] == [s.guid for s in list(ordered)[3:6]]
        with pytest.raises(QueryError, match=r"Server\.nope"):
            result.order_by("nope")

    def test_objects_deleted_meanwhile_are_skipped(self, fleet: dict[str, Any]) -> None:
        result = Server.where(colour="blue")
        guids = result.guids
        Server(guids[0]).delete()
        objects = list(result)
        assert [s.guid for s in objects] == guids[1:]

    @pytest.mark.parametrize(
        ("filters", "problem"),
        [
            ({"nope": 1}, "Server.nope: no such field"),
            ({"cores": "many"}, "expected int"),
            ({"colour": "pink"}, "not one of"),
            ({"cores__in": 3}, "must be a list"),
            ({"tags__gt": 1}, "GT needs"),
            ({"cores__icontains": "1"}, "ignorecase only applies to str"),
            ({"rack__nope": 1}, "Rack.nope: no such field"),
            ({"name__lt": None}, "cannot compare with None"),
        ],
    )
    def test_invalid_queries_fail_before_touching_the_store(
        self, store: InstrumentedStore, filters: dict[str, Any], problem: str
    ) -> None:
        store.reset()
        with pytest.raises(QueryError, match=problem):
            Server.where(**filters)
        assert store.reads == 0

    def test_malformed_original_queries(self, store: InstrumentedStore) -> None:
        cases: list[tuple[Any, str]] = [
            ({"type": "XOR", "items": []}, "AND or OR"),
            ({"type": "AND"}, "a dict with 'type' and 'items'"),
            ({"type": "AND", "items": [("name",)]}, "field, operator, value"),
            ({"type": "AND", "items": [("name", "LIKE", "a")]}, "unknown operator"),
        ]
        for query, problem in cases:
            with pytest.raises(QueryError, match=problem):
                DataList(Server, query)

    # -- indexes -------------------------------------------------------------------------------

    def test_explain_tells_index_use(self, fleet: dict[str, Any]) -> None:
        assert Server.where(colour="red").explain()["use"] == "index"
        assert Server.where(colour__in=["red", "blue"], cores=2).explain()["use"] == "index"
        assert Server.where(serial="S003").explain()["use"] == "index"
        assert Server.where(rack__name="r1").explain()["use"] == "index"
        partial = Server.where(colour="red", load__gt=1.0).explain()
        assert partial["use"] == "partial" and partial["filtered"] == ["load GT 1.0"]
        assert Server.where(name="a0").explain()["use"] == "scan"
        assert Server.where(colour__ieq="RED").explain()["use"] == "scan"
        either = DataList(
            Server, {"type": "OR", "items": [("colour", "EQUALS", "red"), ("load", "GT", 1.0)]}
        )
        assert either.explain()["use"] == "scan"

    def test_indexed_query_reads_only_the_matches(self, store: InstrumentedStore) -> None:
        with transaction():
            for i in range(300):
                Server(name=f"n{i}", cores=7 if i % 100 == 0 else i % 5).save()
        store.reset()
        result = Server.where(cores=7)
        found = list(result)
        assert len(found) == 3
        # Documents read: only the three matches, not the 300 stored objects.
        documents = dalcore.runtime().namespace + "/server/"
        assert len([k for k in store.keys_read if k.startswith(documents)]) == 3
        assert store.calls["scan_page"] == 1  # one page of the index

    def test_unique_values(self, store: InstrumentedStore) -> None:
        first = Ticket(code="T1")
        first.save()
        with pytest.raises(UniqueConstraintError) as caught:
            Ticket(code="T1").save()
        assert (caught.value.owner, caught.value.field, caught.value.value) == (
            "Ticket",
            "code",
            "T1",
        )
        assert "Ticket.code" in str(caught.value) and "'T1'" in str(caught.value)
        assert Ticket.where(code="T1").guids == [first.guid]
        first.code = "T2"
        first.save()
        Ticket(code="T1").save()  # the old value is free again
        first.delete()
        Ticket(code="T2").save()  # and a deleted object's value too
        assert len(Ticket.all()) == 2

    def test_unique_race_across_processes(self, backend_urls: Any, namespace: str) -> None:
        dalcore.configure(backend_urls[0], backend_urls[1], namespace=namespace)
        outcomes = run_processes(_claim, [(backend_urls, namespace, "RACE")] * 4)
        assert sorted(outcomes) == ["saved", "unique", "unique", "unique"]
        assert len(Ticket.where(code="RACE")) == 1

    def test_reindex_builds_missing_entries_and_resumes(self, store: InstrumentedStore) -> None:
        class Plain(DataObject):
            path = "reindexed"
            __properties = [Property("label", str), Property("number", int)]

        with transaction():
            for i in range(45):
                Plain(label=f"L{i % 9}", number=i).save()

        class Indexed(DataObject):
            path = "reindexed"
            __properties = [
                Property("label", str, indexed=True),
                Property("number", int, unique=True),
            ]

        assert len(Indexed.where(label="L3")) == 0  # no entries yet: the index is incomplete
        calls: list[tuple[int, int]] = []

        def interrupt(done: int, total: int) -> None:
            calls.append((done, total))
            if len(calls) == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            dalcore.reindex(Indexed, progress=interrupt, batch=10)
        # A save between the two runs (the service keeps running) writes its own entries.
        moved = next(obj for obj in Indexed.all() if obj.number == 0)
        moved.label = "L3"
        moved.save()
        report = dalcore.reindex(
            Indexed, progress=lambda done, total: calls.append((done, total)), batch=10
        )
        assert report.resumed_after is not None
        assert calls[-1] == (45, 45)
        assert report.duplicates == []
        assert len(Indexed.where(label="L3")) == 6
        assert len(Indexed.where(label="L0")) == 4
        assert Indexed.where(label="L3").explain()["use"] == "index"
        assert [obj.number for obj in Indexed.where(number=44)] == [44]

    # -- query cache ---------------------------------------------------------------------------

    def test_query_results_are_cached_and_invalidated(
        self, fleet: dict[str, Any], store: InstrumentedStore
    ) -> None:
        first = Server.where(colour="red", cores__gt=1)
        expected = set(first.guids)
        store.reset()
        again = Server.where(colour="red", cores__gt=1)
        assert set(again.guids) == expected and again.explain()["cached"]
        assert store.reads == 0
        added = Server(name="new", colour="red", cores=5)
        added.save()
        after_save = Server.where(colour="red", cores__gt=1)
        assert set(after_save.guids) == expected | {added.guid}
        added.delete()
        assert set(Server.where(colour="red", cores__gt=1).guids) == expected

    def test_a_reused_query_dict_is_read_again(self, fleet: dict[str, Any]) -> None:
        # Compiled queries are remembered by value: a dict changed after one use is a new query.
        query: dict[str, Any] = {
            "type": WhereOperator.AND,
            "items": [("colour", Operator.EQUALS, "red")],
        }
        red = set(DataList(Server, query).guids)
        query["items"][0] = ("colour", Operator.EQUALS, "blue")
        blue = set(DataList(Server, query).guids)
        assert red and blue and not red & blue
        assert blue == {s.guid for s in fleet["servers"] if s.colour == "blue"}

    def test_path_queries_see_changes_of_the_target(self, fleet: dict[str, Any]) -> None:
        before = set(Server.where(rack__name="r1").guids)
        rack = fleet["racks"][0]
        rack.name = "renamed"
        rack.save()
        assert Server.where(rack__name="r1").guids == []
        assert set(Server.where(rack__name="renamed").guids) == before

    def test_a_save_between_query_and_caching_is_not_hidden(
        self, fleet: dict[str, Any], store: InstrumentedStore
    ) -> None:
        # The save lands after the query read the index but before it stored its result.
        late = Server(name="late", colour="green")
        fired = threading.Event()

        def save_once(method: str, what: Any) -> None:
            if not fired.is_set() and method == "scan_page" and "/.idx/" in str(what):
                fired.set()
                late.save()

        store.after_read = save_once
        racing = Server.where(colour="green")
        racing_guids = set(racing.guids)
        store.after_read = None
        assert fired.is_set()
        # The racing query read the index before the save, so it missed it and cached that;
        # the save replaced the generation token, so nobody is served that result again.
        assert late.guid not in racing_guids
        after = Server.where(colour="green")
        assert late.guid in set(after.guids) and not after.explain()["cached"]

    def test_an_object_changed_while_the_list_is_built(
        self, fleet: dict[str, Any], store: InstrumentedStore
    ) -> None:
        target = next(s for s in fleet["servers"] if s.colour == "blue" and s.load < 1.0)
        fired = threading.Event()

        def change_once(method: str, what: Any) -> None:
            if not fired.is_set() and method == "get_many":
                fired.set()
                fresh = Server(target.guid)
                fresh.load = 2.5
                fresh.save()

        store.after_read = change_once
        during = Server.where(colour="blue", load__lt=1.0).guids
        store.after_read = None
        assert fired.is_set()
        # The hook ran after the documents were read, so this list was built from the old
        # version; the next query sees the change, since the save gave a new generation.
        assert target.guid in during
        assert target.guid not in Server.where(colour="blue", load__lt=1.0).guids

    # -- transactions --------------------------------------------------------------------------

    def test_transaction_commits_everything_at_once(self, store: InstrumentedStore) -> None:
        store.reset()
        with transaction():
            rack = Rack(name="tx")
            rack.save()
            servers = [Server(name=f"t{i}", rack=rack) for i in range(5)]
            for server in servers:
                server.save()
            assert store.calls["commit"] == 0
        assert store.calls["commit"] == 1
        assert {s.guid for s in Rack(rack.guid).servers} == {s.guid for s in servers}
        assert not any(s.dirty for s in servers)

    def test_an_exception_discards_the_transaction(self, store: InstrumentedStore) -> None:
        rack = Rack(name="kept")
        rack.save()
        with pytest.raises(RuntimeError), transaction():
            Server(name="lost", rack=rack).save()
            rack.delete(cascade=["servers"])
            raise RuntimeError("abort")
        assert Rack(rack.guid).name == "kept"
        assert Server.where(name="lost").guids == []

    def test_a_conflict_aborts_all_and_names_the_object(self, store: InstrumentedStore) -> None:
        a, b = Rack(name="a"), Rack(name="b")
        a.save()
        b.save()
        stale = Rack(b.guid)
        other = Rack(b.guid)
        other.site = "elsewhere"
        other.save()
        with pytest.raises(TransactionConflictError) as caught, transaction():
            a.name = "a2"
            a.save()
            stale.name = "b2"
            stale.save()
            Server(name="with-them").save()
        assert caught.value.guid == b.guid and caught.value.owner == "Rack"
        assert Rack(a.guid).name == "a"
        assert Server.where(name="with-them").guids == []

    def test_unique_violation_inside_a_transaction_aborts_all(
        self, store: InstrumentedStore
    ) -> None:
        Ticket(code="U").save()
        with pytest.raises(TransactionConflictError, match="unique"), transaction():
            Ticket(code="V").save()
            Ticket(code="U").save()
        assert Ticket.where(code="V").guids == []

    # -- mutexes -------------------------------------------------------------------------------

    def test_volatile_mutex_waits_and_expires(self, store: InstrumentedStore) -> None:
        cache = dalcore.runtime().cache
        holder = VolatileMutex(cache, "m1", ttl=1.5, wait=0.2)
        assert holder.acquire()
        with pytest.raises(LockTimeoutError, match="m1"), VolatileMutex(cache, "m1", wait=0.2):
            pass
        # The holder "dies" (never releases): its TTL frees the mutex.
        started = time.monotonic()
        with VolatileMutex(cache, "m1", ttl=5, wait=10) as taker:
            assert taker.held
        assert time.monotonic() - started >= 0.5
        holder.release()  # not ours any more: must not remove the taker's (already released) lock

    def test_persistent_mutex_excludes_and_times_out(self, store: InstrumentedStore) -> None:
        with (
            PersistentMutex("p1", ttl=5, wait=1),
            pytest.raises(LockTimeoutError, match="p1"),
            PersistentMutex("p1", ttl=5, wait=0.3),
        ):
            pass
        with PersistentMutex("p1", ttl=5, wait=1):
            pass  # released: free again

    def test_persistent_mutex_across_processes(self, backend_urls: Any, namespace: str) -> None:
        dalcore.configure(backend_urls[0], backend_urls[1], namespace=namespace)
        counter = Counter()
        counter.save()
        run_processes(_count_under_mutex, [(backend_urls, namespace, counter.guid, 10)] * 3)
        counter.discard()
        assert counter.value == 30

    def test_persistent_mutex_is_freed_when_its_holder_dies(
        self, backend_urls: Any, namespace: str
    ) -> None:
        dalcore.configure(backend_urls[0], backend_urls[1], namespace=namespace)
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        holder = context.Process(target=_hold_and_die, args=(backend_urls, namespace, ready))
        holder.start()
        assert ready.wait(60)
        with pytest.raises(LockTimeoutError):
            PersistentMutex("doomed", ttl=5, wait=0.2).__enter__()
        holder.kill()
        holder.join(10)
        with PersistentMutex("doomed", ttl=5, wait=10):
            pass
