"""The query cache, transactions and mutexes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

import dalcore
from dalcore import (
    DataList,
    LockTimeoutError,
    Operator,
    PersistentMutex,
    VolatileMutex,
    WhereOperator,
    transaction,
)
from dalcore.errors import TransactionConflictError
from dalcore.testing._instrument import InstrumentedStore
from dalcore.testing._query_hybrids import Counter, Rack, Server, Ticket
from dalcore.testing.conformance import run_processes
from dalcore.testing.queries._base import (
    QueryBase,
    _count_under_mutex,
    _hold_and_die,
)


class QueryCacheBehaviour(QueryBase):
    """The query cache, transactions and mutexes."""

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
