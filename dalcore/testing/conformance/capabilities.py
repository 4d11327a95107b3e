"""The optional store capabilities every store that declares them must honour: locks, watches."""

from __future__ import annotations

import queue

import pytest

from dalcore.api import (
    Delete,
    PersistentStore,
    Put,
    WatchEvent,
)
from dalcore.errors import (
    LockTimeoutError,
    UnsupportedError,
)
from dalcore.testing.conformance._shared import (
    StoreSuiteBase,
    _hold_lock_worker,
    _locked_increment_worker,
    run_processes,
)


class StoreCapabilities(StoreSuiteBase):
    """``lock`` and ``watch``, tested when the store lists them in ``capabilities``."""

    # optional capabilities

    def test_lock(self, store: PersistentStore) -> None:
        if "lock" not in store.capabilities:
            with pytest.raises(UnsupportedError):
                store.lock("locks/x", ttl=5)
            return
        first = store.lock("locks/x", ttl=5)
        second = store.lock("locks/x", ttl=5)
        other = store.lock("locks/y", ttl=5)
        assert first.acquire(timeout=5)
        assert not second.acquire(timeout=0.3)
        assert other.acquire(timeout=5)  # a different name is a different lock
        other.release()
        first.release()
        first.release()  # releasing twice is harmless
        assert second.acquire(timeout=5)
        second.release()
        with store.lock("locks/x", ttl=5) as held:
            assert held.name == "locks/x"
            late = store.lock("locks/x", ttl=5)
            assert not late.acquire(timeout=0.2)
            late.default_timeout = 0.2
            with pytest.raises(LockTimeoutError), late:
                pass
        assert store.lock("locks/x", ttl=5).acquire(timeout=5)

    @pytest.mark.slow
    def test_lock_excludes_other_processes(self, store: PersistentStore, store_url: str) -> None:
        if "lock" not in store.capabilities:
            pytest.skip("backend does not declare the lock capability")
        store.set("counter", b"0")
        processes, times = 3, 8
        run_processes(
            _locked_increment_worker, [(store_url, "locks/counter", "counter", times)] * processes
        )
        assert store.get("counter").value == b"%d" % (processes * times)

    @pytest.mark.slow
    def test_lock_expires_when_its_holder_vanishes(
        self, store: PersistentStore, store_url: str
    ) -> None:
        if "lock" not in store.capabilities:
            pytest.skip("backend does not declare the lock capability")
        [held] = run_processes(_hold_lock_worker, [(store_url, "locks/dead", 3.0)], vanish=True)
        assert held is True
        mine = store.lock("locks/dead", ttl=5)
        assert not mine.acquire(timeout=0), "the dead holder's lock vanished before its ttl"
        assert mine.acquire(timeout=30), "the lock was not freed after its holder died"
        mine.release()

    def test_watch(self, store: PersistentStore) -> None:
        if "watch" not in store.capabilities:
            with pytest.raises(UnsupportedError):
                store.watch("w/", lambda event: None)
            return
        events: queue.Queue[WatchEvent] = queue.Queue()
        handle = store.watch("w/", events.put)
        try:
            first = store.set("w/a", b"1")
            store.set("other", b"x")
            store.set("w", b"not under w/")
            second = store.commit([Put("w/b", b"2"), Delete("w/a")])
            store.delete("w/b")
            wanted = [
                WatchEvent("w/a", b"1", first),
                WatchEvent("w/b", b"2", second),
                WatchEvent("w/a", None, second),
            ]
            got = [events.get(timeout=10) for _ in range(len(wanted) + 1)]
            deletion = got.pop()
            assert deletion.key == "w/b" and deletion.value is None
            assert deletion.revision > second
            # Within one commit the order of events is the backend's.
            assert got[0] == wanted[0]
            assert set(got[1:]) == set(wanted[1:])
        finally:
            # A second watch, open across the cancel, is the sync point: once it has seen a
            # key written after "w/after", the store has delivered "w/after" to whoever
            # still listened.
            witness: queue.Queue[WatchEvent] = queue.Queue()
            witness_handle = store.watch("w/", witness.put)
            handle.cancel()
        try:
            store.set("w/after", b"x")
            store.set("w/sentinel", b"x")
            while witness.get(timeout=10).key != "w/sentinel":
                pass
            witness_handle.sync(10)
        finally:
            witness_handle.cancel()
        assert events.empty(), "events arrived after cancel"

    def test_watch_sync_delivers_every_earlier_commit(self, store: PersistentStore) -> None:
        if "watch" not in store.capabilities:
            pytest.skip("backend does not declare the watch capability")
        events: queue.Queue[WatchEvent] = queue.Queue()
        handle = store.watch("s/", events.put)
        try:
            for round_ in range(20):
                revision = store.set(f"s/{round_}", b"x")
                store.set("outside", b"x")  # a revision the watch never reports
                handle.sync(10)
                seen = []
                while not events.empty():
                    seen.append(events.get_nowait())
                assert [(e.key, e.revision) for e in seen] == [(f"s/{round_}", revision)]
        finally:
            handle.cancel()
