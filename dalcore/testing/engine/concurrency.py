"""Races inside one process (a save exactly inside a load), optimistic concurrency, and several
processes on one store."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

import dalcore
from dalcore import (
    ConcurrencyError,
    ObjectNotFoundError,
    RaceConditionError,
    StoreUnavailableError,
)
from dalcore.testing._engine_hybrids import (
    Backend,
    BackendType,
    Gauge,
    Sample,
    Tally,
)
from dalcore.testing.conformance import run_processes
from dalcore.testing.engine._base import (
    Dal,
    EngineBase,
    _object_keys,
)

# -- multi-process workers (module level: spawned processes import them) --------------------


def _mp_create_sample(barrier: Any, persistent: str, volatile: str, ns: str, text: str) -> str:
    dalcore.configure(persistent, volatile, namespace=ns)
    barrier.wait(60)
    sample = Sample(text=text)
    sample.save()
    return sample.guid


def _mp_increment(
    barrier: Any, persistent: str, volatile: str, ns: str, guid: str, field: str, times: int
) -> int:
    """Add 1 to ``field`` ``times`` times, then append ``times`` tokens to the shared ``log``.

    The counter is a field no other process writes: concurrent saves merge it. The log is
    written by every process with ``datastore_wins=None``: a save that lost a race raises
    ConcurrencyError and is redone on a fresh load. (A shared *counter* would not do: two
    processes incrementing 5 to 6 make the same change, which a three-way merge accepts.)
    Returns the conflicts seen.

    A save may also give up with RaceConditionError (the engine's retries are bounded): it was
    refused, not lost, and is redone like a conflict. Four processes saving one object back to
    back do that on etcd (0-3 times in 32 saves), where commits do not queue as on SQLite.
    """
    dalcore.configure(persistent, volatile, namespace=ns)
    barrier.wait(60)
    conflicts = 0
    for _ in range(times):
        while True:
            tally = Tally(guid)
            setattr(tally, field, getattr(tally, field) + 1)
            try:
                tally.save()
            except RaceConditionError:
                conflicts += 1
                continue
            break
    for index in range(times):
        while True:
            tally = Tally(guid)
            tally.log = [*tally.log, f"{field}-{index}"]
            try:
                tally.save(datastore_wins=None)
            except (ConcurrencyError, RaceConditionError):
                conflicts += 1
                continue
            break
    return conflicts


class ConcurrencyBehaviour(EngineBase):
    """Races in one process, optimistic concurrency, and several processes on one store."""

    # == Races ================================================================================

    def _block_reads_of(self, dal: Dal, key: str, thread_name: str) -> tuple[Any, Any]:
        """Make the thread ``thread_name`` stop right after its store read of ``key``.

        Returns (entered, release) events: the read has happened once ``entered`` is set, and
        the thread goes on (to fill the cache) when ``release`` is set.
        """
        entered, release = threading.Event(), threading.Event()

        def after_read(method: str, keys: Any) -> None:
            if threading.current_thread().name == thread_name and key in keys:
                entered.set()
                release.wait(30)

        dal.store.after_read = after_read
        return entered, release

    def _in_thread(
        self, name: str, work: Callable[[], Any]
    ) -> tuple[threading.Thread, dict[str, Any]]:
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = work()
            except Exception as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run, name=name)
        thread.start()
        return thread, outcome

    def test_race_save_during_cache_fill(self, dal: Dal) -> None:
        gauge = self._gauge()
        mine = Gauge(gauge.guid)
        dal.forget(gauge)
        entered, release = self._block_reads_of(dal, dal.key(gauge), "slow-loader")
        thread, outcome = self._in_thread("slow-loader", lambda: Gauge(gauge.guid))
        assert entered.wait(30)
        mine.name = "v2"  # saved after the loader read "g" and before it fills the cache
        mine.save()
        release.set()
        thread.join(30)
        assert outcome["value"].name == "g"  # it read before the save: that is fine
        assert Gauge(gauge.guid).name == "v2"  # but it must not have cached the old version

    def test_race_save_during_list_load(self, dal: Dal) -> None:
        kind, backends = self._kind_with_backends(3)
        mine = Backend(backends[0].guid)
        dal.forget(*backends)
        entered, release = self._block_reads_of(dal, dal.key(backends[0]), "list-loader")
        thread, outcome = self._in_thread("list-loader", lambda: list(kind.backends))
        assert entered.wait(30)
        mine.name = "renamed"
        mine.save()
        release.set()
        thread.join(30)
        assert len(outcome["value"]) == 3
        assert Backend(backends[0].guid).name == "renamed"
        assert {b.name for b in kind.backends} == {"renamed", "b1", "b2"}

    def test_race_change_during_list_build(self, dal: Dal) -> None:
        kind, backends = self._kind_with_backends(3)
        other = BackendType(name="other", code="o")
        other.save()
        found = kind.backends  # guids are known, objects not loaded yet
        Backend(backends[0].guid).delete()
        renamed = Backend(backends[1].guid)
        renamed.name = "renamed"
        renamed.save()
        moved = Backend(backends[2].guid)
        moved.backend_type = other
        moved.save()
        loaded = {b.guid: b for b in found}
        assert backends[0].guid not in loaded  # deleted meanwhile: skipped, not raised
        assert loaded[backends[1].guid].name == "renamed"
        assert loaded[backends[2].guid].backend_type_guid == other.guid  # its current state
        assert kind.backends_guids == [backends[1].guid]
        assert other.backends_guids == [backends[2].guid]

    def test_race_delete_during_load(self, dal: Dal) -> None:
        gauge = self._gauge()
        mine = Gauge(gauge.guid)
        dal.forget(gauge)
        entered, release = self._block_reads_of(dal, dal.key(gauge), "slow-loader")
        thread, outcome = self._in_thread("slow-loader", lambda: Gauge(gauge.guid))
        assert entered.wait(30)
        mine.delete()
        release.set()
        thread.join(30)
        assert "error" not in outcome  # it read before the delete
        with pytest.raises(ObjectNotFoundError):
            Gauge(gauge.guid)  # and did not cache what it read
        # A cached object deleted through another instance is gone for every later load.
        other = self._gauge()
        Gauge(other.guid)
        Gauge(other.guid).delete()
        with pytest.raises(ObjectNotFoundError):
            Gauge(other.guid)

    def _fail_next_commit(self, dal: Dal, key: str, applied: bool) -> list[int]:
        """Make the next commit writing ``key`` raise StoreUnavailableError once.

        With ``applied`` the commit reaches the store first (the reply was lost).
        """
        failures: list[int] = []

        def before_commit(operations: Any, checks: Any) -> None:
            if failures or key not in _object_keys(operations):
                return
            failures.append(1)
            if applied:
                dal.store.inner.commit(operations, checks)
            raise StoreUnavailableError(dal.store.endpoint, "injected failure")

        dal.store.before_commit = before_commit
        return failures

    def test_race_reverse_index_build_during_save(self, dal: Dal) -> None:
        # A reverse list read from the store while a new link is saved: the reader answers
        # what it read, and the list it leaves in the cache never hides the new link.
        kind, backends = self._kind_with_backends(2)
        dal.cache.clear()
        prefix = f"{dal.ns}/.rel/backend/backend_type/{kind.guid}/"
        entered, release = self._block_reads_of(dal, prefix, "list-builder")
        thread, outcome = self._in_thread(
            "list-builder", lambda: BackendType(kind.guid).backends_guids
        )
        assert entered.wait(30)
        added = Backend(name="b-new", backend_type=kind)
        added.save()
        release.set()
        thread.join(30)
        assert sorted(outcome["value"]) == sorted(b.guid for b in backends)
        assert sorted(BackendType(kind.guid).backends_guids) == sorted(
            [*(b.guid for b in backends), added.guid]
        )

    def test_race_index_change_during_query(self, dal: Dal) -> None:
        # A query reads an index while an object leaves it: the result the slow query caches
        # is never served after the change.
        from dalcore.testing._query_hybrids import Server

        server = Server(name="s", colour="red")
        server.save()
        dal.cache.clear()
        prefix = f'{dal.ns}/.idx/server/colour/"red"/'
        entered, release = self._block_reads_of(dal, prefix, "querier")
        thread, outcome = self._in_thread("querier", lambda: list(Server.where(colour="red").guids))
        assert entered.wait(30)
        changed = Server(server.guid)
        changed.colour = "blue"
        changed.save()
        release.set()
        thread.join(30)
        assert outcome["value"] == [server.guid]  # what it read before the change
        assert list(Server.where(colour="red").guids) == []
        assert list(Server.where(colour="blue").guids) == [server.guid]

    def test_error_in_the_middle_of_a_save(self, dal: Dal) -> None:
        kind = BackendType(name="t", code="t")
        kind.save()
        backend = Backend(name="b", backend_type=kind)
        failures = self._fail_next_commit(dal, dal.key(backend), applied=False)
        before = dal.stored_keys()
        with pytest.raises(StoreUnavailableError):
            backend.save()
        assert failures == [1]
        assert dal.stored_keys() == before  # neither the object nor its index entry
        assert backend.dirty and not backend.stored
        backend.save()
        assert Backend(backend.guid).name == "b" and kind.backends_guids == [backend.guid]
        backend.name = "changed"
        self._fail_next_commit(dal, dal.key(backend), applied=False)
        with pytest.raises(StoreUnavailableError):
            backend.save()
        assert (dal.stored(backend) or {})["name"] == "b"
        assert Backend(backend.guid).name == "b" and backend.dirty
        backend.save()
        assert Backend(backend.guid).name == "changed"

    def test_lost_commit_reply_then_retry(self, dal: Dal) -> None:
        gauge = Gauge(name="first")
        self._fail_next_commit(dal, dal.key(gauge), applied=True)
        with pytest.raises(StoreUnavailableError):
            gauge.save()
        gauge.save()  # the create did land: the retry recognises it as its own
        assert Gauge(gauge.guid).name == "first"
        gauge.name = "second"
        self._fail_next_commit(dal, dal.key(gauge), applied=True)
        with pytest.raises(StoreUnavailableError):
            gauge.save()
        gauge.save()
        assert not gauge.dirty
        assert Gauge(gauge.guid).name == "second"  # the cache did not keep "first"

    # == Optimistic concurrency ===============================================================

    def test_concurrent_saves_of_different_fields_merge(self, dal: Dal) -> None:
        tally = Tally()
        tally.save()
        first, second = Tally(tally.guid), Tally(tally.guid)
        first.c0 = 1
        first.save()
        second.c1 = 2
        second.save()
        assert (second.c0, second.c1) == (1, 2)
        stored = dal.stored(tally) or {}
        assert (stored["c0"], stored["c1"]) == (1, 2)

    @pytest.mark.parametrize(("datastore_wins", "expected"), [(False, "local"), (True, "stored")])
    def test_same_field_conflict_resolution(
        self, dal: Dal, datastore_wins: bool, expected: str
    ) -> None:
        tally = Tally(note="base")
        tally.save()
        first, second = Tally(tally.guid), Tally(tally.guid)
        first.note = "stored"
        first.c0 = 5
        first.save()
        second.note = "local"
        second.save(datastore_wins=datastore_wins)
        assert second.note == expected and second.c0 == 5
        assert (dal.stored(tally) or {})["note"] == expected
        assert Tally(tally.guid).note == expected

    def test_same_field_conflict_raises_when_asked(self, dal: Dal) -> None:
        tally = Tally(note="base")
        tally.save()
        first, second = Tally(tally.guid), Tally(tally.guid)
        first.note = "theirs"
        first.save()
        second.note = "mine"
        with pytest.raises(ConcurrencyError) as caught:
            second.save(datastore_wins=None)
        assert caught.value.conflicts == {"note": ("mine", "theirs")}
        assert "note" in str(caught.value) and tally.guid in str(caught.value)
        assert (dal.stored(tally) or {})["note"] == "theirs"
        assert second.dirty
        second.save(datastore_wins=False)
        assert Tally(tally.guid).note == "mine"

    def test_a_competitor_that_always_wins_gives_race_condition_error(self, dal: Dal) -> None:
        tally = Tally()
        tally.save()
        key = dal.key(tally)
        mine = Tally(tally.guid)
        mine.note = "never saved"

        def competitor(operations: Any, checks: Any) -> None:
            if key in _object_keys(operations):
                document = dal.stored(tally) or {}
                document["c3"] += 1
                dal.store.inner.set(key, json.dumps(document).encode())

        dal.store.before_commit = competitor
        with pytest.raises(RaceConditionError) as caught:
            mine.save()
        dal.store.before_commit = None
        assert caught.value.guid == tally.guid and caught.value.attempts > 1
        stored = dal.stored(tally) or {}
        assert stored["note"] is None and stored["c3"] == caught.value.attempts

    # == Several processes ====================================================================

    def test_a_save_in_one_process_is_seen_by_a_load_in_another(
        self, dal: Dal, backend_urls: tuple[str, str]
    ) -> None:
        persistent, volatile = backend_urls
        [guid] = run_processes(_mp_create_sample, [(persistent, volatile, dal.ns, "from a child")])
        assert Sample(guid).text == "from a child"

    @pytest.mark.slow
    def test_concurrent_saves_from_processes_lose_no_update(
        self, dal: Dal, backend_urls: tuple[str, str]
    ) -> None:
        persistent, volatile = backend_urls
        tally = Tally()
        tally.save()
        times, processes = 8, 4
        run_processes(
            _mp_increment,
            [(persistent, volatile, dal.ns, tally.guid, f"c{i}", times) for i in range(processes)],
        )
        final = dal.stored(tally) or {}
        assert [final[f"c{i}"] for i in range(processes)] == [times] * processes
        tokens = [f"c{i}-{n}" for i in range(processes) for n in range(times)]
        assert sorted(final["log"]) == sorted(tokens)
        assert sorted(Tally(tally.guid).log) == sorted(tokens)
