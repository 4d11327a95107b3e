"""The conformance suite every dalcore backend must pass.

A backend's test module subclasses a suite class and provides fixtures::

    from dalcore.testing import PersistentStoreConformance

    class TestMyStore(PersistentStoreConformance):
        @pytest.fixture
        def store(self, tmp_path):        # a fresh, EMPTY store for each test
            with MyStore(tmp_path / "db") as store:
                yield store

        @pytest.fixture
        def store_url(self, tmp_path):    # optional: a URL other processes open for the same data
            return f"my://{tmp_path}/db"

The tests rely only on the store (cache) being empty when handed over, so a fixture may be a
fresh key prefix on a shared server. Data sizes stay small enough for a network store to run the
whole suite in well under a minute. Multi-process tests start their workers with ``spawn`` (fork
is unsafe with client libraries that run threads, such as gRPC) and run only when the URL
fixture is provided.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

import pytest

from dalcore import open_persistent, open_volatile
from dalcore.api import (
    NO_VALUE,
    Absent,
    Check,
    Delete,
    Entry,
    Exists,
    PersistentStore,
    Put,
    RevisionIs,
    ValueIs,
    VolatileCache,
    WatchEvent,
)
from dalcore.errors import (
    AssertionFailedError,
    KeyNotFoundError,
    LockTimeoutError,
    UnsupportedError,
)
from dalcore.testing._store_machine import run_store_machine

__all__ = ["PersistentStoreConformance", "VolatileCacheConformance"]

#: Keys that trip up naive encodings: URL and path syntax, whitespace, multi-byte UTF-8, the
#: highest BMP code points and a character outside the BMP.
ODD_KEYS = [
    "plain",
    "with space",
    "tab\there",
    "new\nline",
    "per%cent",
    "percent%2F",
    "slash/",
    "/leading",
    "back\\slash",
    "?query=1&x#frag",
    "'quote\"",
    "*",
    "..",
    "\u00e9t\u00e9",
    "\u65e5\u672c\u8a9e",
    "\U0001f600 emoji",
    "\ufffe",
    "\uffff",
    "a\uffff",
    "a\U0010ffff",
    "\U0010ffff",
    "\ud7ff\ud7ff",  # the key after prefix U+D7FF is not U+D800 (a surrogate)
    "\ue000",
]

#: Keys sharing prefixes: a scan of ``a/`` must not return ``a`` or ``ab``.
SHARED_PREFIX_KEYS = ["a", "a.", "a/", "a/b", "a/b/c", "a/c", "a0", "ab", "ab/", "b", "b/a"]


def _utf8_order(keys: Sequence[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- multi-process plumbing ---------------------------------------------------------------
# Workers are module-level functions so that spawned processes can import them. They return
# plain data: dalcore's exceptions do not survive pickling, so failures come back as text.


def _child(
    work: Callable[..., Any],
    index: int,
    barrier: Any,
    results: Any,
    args: tuple[Any, ...],
    vanish: bool,
) -> None:
    try:
        outcome: tuple[str, Any] = ("ok", work(barrier, *args))
    except BaseException as exc:
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    results.put((index, outcome))
    if vanish:
        # Die like a crashed process: no atexit handlers, no releases, no client shutdown.
        results.close()
        results.join_thread()
        os._exit(0)


def run_processes(
    work: Callable[..., Any],
    arg_sets: Sequence[tuple[Any, ...]],
    timeout: float = 120.0,
    vanish: bool = False,
) -> list[Any]:
    """Run ``work(barrier, *args)`` in one spawned process per ``args``; return their results.

    ``barrier`` lets the workers start their contended part together. A worker that raises
    fails the calling test with its error.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arg_sets))
    results = context.Queue()
    processes = [
        context.Process(
            target=_child, args=(work, index, barrier, results, args, vanish), daemon=True
        )
        for index, args in enumerate(arg_sets)
    ]
    for process in processes:
        process.start()
    answers: dict[int, tuple[str, Any]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(answers) < len(processes):
            try:
                index, outcome = results.get(timeout=1.0)
            except queue.Empty:
                silent = [i for i, p in enumerate(processes) if i not in answers]
                if all(processes[i].exitcode not in (None, 0) for i in silent):
                    codes = {i: processes[i].exitcode for i in silent}
                    pytest.fail(f"worker processes died without answering: exit codes {codes}")
                if time.monotonic() > deadline:
                    pytest.fail(f"worker processes did not finish within {timeout}s")
                continue
            answers[index] = outcome
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    errors = [f"worker {i}: {text}" for i, (kind, text) in sorted(answers.items()) if kind != "ok"]
    assert not errors, "\n".join(errors)
    return [answers[index][1] for index in range(len(processes))]


def _increment_worker(barrier: Any, url: str, key: str, times: int) -> list[int]:
    """Add 1 to the integer under ``key`` ``times`` times, each a guarded read-modify-write."""
    revisions = []
    with open_persistent(url) as store:
        barrier.wait(60)
        for _ in range(times):
            while True:
                entry = store.get(key)
                try:
                    revision = store.commit(
                        [Put(key, b"%d" % (int(entry.value) + 1))],
                        [RevisionIs(key, entry.revision)],
                    )
                except AssertionFailedError:
                    continue
                revisions.append(revision)
                break
    return revisions


def _locked_increment_worker(barrier: Any, url: str, name: str, key: str, times: int) -> int:
    """Unguarded read-modify-write of ``key``, made safe only by holding the store lock."""
    with open_persistent(url) as store:
        barrier.wait(60)
        for _ in range(times):
            lock = store.lock(name, ttl=10)
            assert lock.acquire(timeout=60), "lock not acquired within 60s"
            try:
                value = int(store.get(key).value)
                time.sleep(0.001)  # widen the window a missing exclusion would need
                store.set(key, b"%d" % (value + 1))
            finally:
                lock.release()
    return times


def _hold_lock_worker(barrier: Any, url: str, name: str, ttl: float) -> bool:
    store = open_persistent(url)
    barrier.wait(60)
    return store.lock(name, ttl).acquire(timeout=10)  # then the process vanishes holding it


def _cache_add_worker(barrier: Any, url: str, key: str) -> tuple[bool, int]:
    cache = open_volatile(url)
    try:
        barrier.wait(60)
        return cache.add(key, os.getpid(), ttl=60), os.getpid()
    finally:
        cache.close()


# -- the persistent store suite -----------------------------------------------------------


class PersistentStoreConformance:
    """Tests every :class:`~dalcore.api.PersistentStore` must pass (subclass it, see above)."""

    @pytest.fixture
    def store(self) -> Iterator[PersistentStore]:
        raise NotImplementedError(f"{type(self).__name__} must define a `store` fixture")

    @pytest.fixture
    def store_url(self) -> str:
        pytest.skip("backend is per-process: no store_url fixture, multi-process tests skipped")

    # get / exists / get_many

    def test_get_missing_raises_key_not_found(self, store: PersistentStore) -> None:
        with pytest.raises(KeyNotFoundError) as caught:
            store.get("missing")
        assert caught.value.key == "missing"
        assert isinstance(caught.value, LookupError)
        assert not store.exists("missing")

    def test_set_then_get_returns_exact_bytes(self, store: PersistentStore) -> None:
        values = {
            "empty": b"",
            "text": b"hello",
            "binary": bytes(range(256)),
            "not-utf8": b"\xff\xfe\x00\x80",
            "nul": b"\x00",
        }
        for key, value in values.items():
            store.set(key, value)
        for key, value in values.items():
            entry = store.get(key)
            assert type(entry.value) is bytes
            assert entry == Entry(key, value, entry.revision)
            assert store.exists(key)

    def test_set_overwrites(self, store: PersistentStore) -> None:
        store.set("k", b"one")
        store.set("k", b"two")
        assert store.get("k").value == b"two"
        assert [entry.key for entry in store.scan()] == ["k"]

    def test_get_many_keeps_order_duplicates_and_missing(self, store: PersistentStore) -> None:
        store.set("a", b"1")
        store.set("c", b"3")
        assert store.get_many([]) == []
        got = store.get_many(["c", "missing", "a", "c", "b"])
        assert [None if entry is None else (entry.key, entry.value) for entry in got] == [
            ("c", b"3"),
            None,
            ("a", b"1"),
            ("c", b"3"),
            None,
        ]
        assert got[0] == store.get("c")

    def test_get_many_with_many_keys(self, store: PersistentStore) -> None:
        keys = [f"k/{i:04d}" for i in range(1200)]
        store.commit([Put(key, key.encode()) for key in keys[::2]])
        got = store.get_many(keys)
        assert [entry.value if entry else None for entry in got] == [
            key.encode() if i % 2 == 0 else None for i, key in enumerate(keys)
        ]

    # scans

    def test_scan_empty_store(self, store: PersistentStore) -> None:
        assert list(store.scan()) == []
        assert list(store.keys()) == []
        assert store.scan_page("", None, 10) == []

    @pytest.mark.parametrize("page_size", [1, 2, 3, 7, 25, 26, 500])
    def test_scan_and_keys_are_ordered_and_paged(
        self, store: PersistentStore, page_size: int
    ) -> None:
        keys = [f"p/{i:02d}" for i in range(25)]
        for key in reversed(keys):
            store.set(key, key.encode() * 3)
        # islice: a backend repeating start_after would otherwise page forever.
        bound = len(keys) + 5
        entries = list(islice(store.scan("p/", page_size=page_size), bound))
        assert [entry.key for entry in entries] == keys
        assert all(entry.value == entry.key.encode() * 3 for entry in entries)
        assert list(islice(store.keys("p/", page_size=page_size), bound)) == keys
        assert list(islice(store.scan(page_size=page_size), bound)) == entries

    def test_scan_page_honours_start_after_and_limit(self, store: PersistentStore) -> None:
        for key in ["a", "b/1", "b/2", "b/3", "b/4", "c"]:
            store.set(key, key.encode())

        def page(start_after: str | None, limit: int = 10) -> list[str]:
            return [entry.key for entry in store.scan_page("b/", start_after, limit)]

        assert page(None) == ["b/1", "b/2", "b/3", "b/4"]
        assert page(None, 2) == ["b/1", "b/2"]
        assert page("b/2") == ["b/3", "b/4"]
        assert page("b/2", 1) == ["b/3"]
        assert page("b/25") == ["b/3", "b/4"]  # a start_after that is not stored
        assert page("a") == ["b/1", "b/2", "b/3", "b/4"]  # before the prefix
        assert page("b/4") == []
        assert page("c") == []  # after the prefix

    def test_scan_page_keys_only(self, store: PersistentStore) -> None:
        revisions = {key: store.set(key, b"value of " + key.encode()) for key in ["x/1", "x/2"]}
        page = store.scan_page("x/", None, 10, keys_only=True)
        assert [(entry.key, entry.revision) for entry in page] == list(revisions.items())
        assert all(entry.value in (b"", b"value of " + entry.key.encode()) for entry in page)

    def test_prefixes_sharing_prefixes(self, store: PersistentStore) -> None:
        for key in SHARED_PREFIX_KEYS:
            store.set(key, key.encode())
        expected = {
            "": SHARED_PREFIX_KEYS,
            "a": ["a", "a.", "a/", "a/b", "a/b/c", "a/c", "a0", "ab", "ab/"],
            "a/": ["a/", "a/b", "a/b/c", "a/c"],
            "a/b": ["a/b", "a/b/c"],
            "a/b/": ["a/b/c"],
            "ab": ["ab", "ab/"],
            "b": ["b", "b/a"],
            "a/bc": [],
            "c": [],
        }
        for prefix, keys in expected.items():
            for page_size in (1, 2, 100):
                assert list(store.keys(prefix, page_size)) == keys, (prefix, page_size)
                scanned = [entry.key for entry in store.scan(prefix, page_size)]
                assert scanned == keys, (prefix, page_size)

    def test_unusual_keys_round_trip_in_utf8_order(self, store: PersistentStore) -> None:
        for key in ODD_KEYS:
            store.set(key, key.encode("utf-8"))
        for key in ODD_KEYS:
            assert store.get(key).value == key.encode("utf-8"), key
        assert list(store.keys(page_size=4)) == _utf8_order(ODD_KEYS)
        got = store.get_many(ODD_KEYS)
        assert [entry.key if entry else None for entry in got] == ODD_KEYS
        for prefix in ["a", "\uffff", "\U0010ffff", "a\uffff", "per%", "\U0001f600", "/", "\ud7ff"]:
            expected = _utf8_order([key for key in ODD_KEYS if key.startswith(prefix)])
            assert list(store.keys(prefix, page_size=2)) == expected, prefix
        for key in ODD_KEYS:
            assert store.delete(key), key
        assert list(store.keys()) == []

    # writes

    def test_delete(self, store: PersistentStore) -> None:
        store.set("k", b"v")
        store.set("k2", b"v")
        assert store.delete("k") is True
        assert store.delete("k") is False
        assert store.delete("never") is False
        assert not store.exists("k")
        assert store.get_many(["k"]) == [None]
        with pytest.raises(KeyNotFoundError):
            store.get("k")
        assert list(store.keys()) == ["k2"]

    def test_delete_prefix_removes_only_the_prefix(self, store: PersistentStore) -> None:
        for key in SHARED_PREFIX_KEYS:
            store.set(key, b"")
        assert store.delete_prefix("a/") == 4
        assert store.delete_prefix("a/") == 0
        assert list(store.keys()) == ["a", "a.", "a0", "ab", "ab/", "b", "b/a"]
        assert store.delete_prefix("zzz") == 0
        assert store.delete_prefix("a") == 5
        assert list(store.keys()) == ["b", "b/a"]
        assert store.delete_prefix("") == 2
        assert list(store.keys()) == []

    def test_delete_prefix_many_keys(self, store: PersistentStore) -> None:
        store.commit([Put(f"d/{i:04d}", b"x") for i in range(1100)])
        store.set("d", b"kept")
        store.set("e", b"kept")
        assert store.delete_prefix("d/") == 1100
        assert list(store.keys()) == ["d", "e"]

    def test_large_value(self, store: PersistentStore) -> None:
        # 1 MiB: below etcd's default 1.5 MiB request limit.
        big = os.urandom(1024 * 1024)
        store.set("big", big)
        assert store.get("big").value == big
        assert [entry.value for entry in store.scan("big")] == [big]
        store.commit([Put("big", big[::-1])], [ValueIs("big", big)])
        assert store.get_many(["big"])[0] == store.get("big")
        assert store.get("big").value == big[::-1]

    # revisions

    def test_revisions_increase_with_every_write(self, store: PersistentStore) -> None:
        seen = [store.set("a", b"1")]
        seen.append(store.set("a", b"2"))
        seen.append(store.set("b", b"1"))
        seen.append(store.commit([Put("c", b"1"), Delete("a")]))
        store.delete("b")
        seen.append(store.set("b", b"2"))
        store.delete_prefix("")
        seen.append(store.set("a", b"3"))
        assert all(isinstance(revision, int) and revision > 0 for revision in seen)
        assert seen == sorted(set(seen)), "revisions must strictly increase"

    def test_revision_is_the_same_everywhere(self, store: PersistentStore) -> None:
        revision = store.commit([Put("r/1", b"x"), Put("r/2", b"y")])
        store.set("r/3", b"z")
        assert store.get("r/1").revision == revision
        assert store.get("r/2").revision == revision
        assert [entry.revision for entry in store.get_many(["r/1", "r/2"]) if entry] == [
            revision,
            revision,
        ]
        scanned = {entry.key: entry.revision for entry in store.scan("r/")}
        assert scanned == {"r/1": revision, "r/2": revision, "r/3": store.get("r/3").revision}
        keyed = {e.key: e.revision for e in store.scan_page("r/", None, 10, keys_only=True)}
        assert keyed == scanned
        store.set("r/1", b"x")  # the same value again is still a write
        assert store.get("r/1").revision > revision
        assert store.get("r/2").revision == revision

    def test_revision_is_check(self, store: PersistentStore) -> None:
        first = store.set("k", b"1")
        second = store.commit([Put("k", b"2")], [RevisionIs("k", first)])
        with pytest.raises(AssertionFailedError) as caught:
            store.commit([Put("k", b"stale")], [RevisionIs("k", first)])
        assert caught.value.failed == [RevisionIs("k", first)]
        assert store.get("k") == Entry("k", b"2", second)

    # commit

    def test_each_check_holding(self, store: PersistentStore) -> None:
        revision = store.set("k", b"v")
        store.set("empty", b"")
        checks: list[Check] = [
            ValueIs("k", b"v"),
            ValueIs("empty", b""),
            RevisionIs("k", revision),
            Exists("k"),
            Exists("empty"),
            Absent("missing"),
        ]
        for check in checks:
            store.commit([Put("out", repr(check).encode())], [check])
            assert store.get("out").value == repr(check).encode()
        store.commit([Put("out", b"all")], checks)
        assert store.get("out").value == b"all"

    def test_each_check_failing(self, store: PersistentStore) -> None:
        revision = store.set("k", b"v")
        store.set("empty", b"")
        checks: list[Check] = [
            ValueIs("k", b"other"),
            ValueIs("missing", b""),  # an absent key has no value, not an empty one
            ValueIs("empty", b"x"),
            RevisionIs("k", revision + 1000),
            RevisionIs("missing", revision),
            Exists("missing"),
            Absent("k"),
            Absent("empty"),
        ]
        for check in checks:
            with pytest.raises(AssertionFailedError) as caught:
                store.commit([Put("out", b"x"), Delete("k")], [check])
            assert caught.value.failed == [check]
            assert not store.exists("out")
            assert store.get("k") == Entry("k", b"v", revision)

    def test_failed_commit_writes_nothing_and_lists_failed_checks(
        self, store: PersistentStore
    ) -> None:
        store.set("keep", b"old")
        store.set("gone", b"here")
        before = list(store.scan())
        good: list[Check] = [Exists("keep"), Absent("new")]
        bad: list[Check] = [ValueIs("keep", b"wrong"), Exists("missing")]
        with pytest.raises(AssertionFailedError) as caught:
            store.commit(
                [Put("keep", b"new"), Put("new", b"x"), Delete("gone")],
                [good[0], bad[0], good[1], bad[1]],
            )
        failed = caught.value.failed
        # Backends that cannot tell which checks failed list them all; none may list fewer.
        assert set(bad) <= set(failed) <= set(good + bad)
        assert list(store.scan()) == before

    def test_checks_see_the_state_before_the_operations(self, store: PersistentStore) -> None:
        store.commit([Put("k", b"1")], [Absent("k")])
        store.commit([Delete("k"), Put("j", b"2")], [Exists("k"), ValueIs("k", b"1")])
        assert list(store.keys()) == ["j"]

    def test_commit_with_only_checks(self, store: PersistentStore) -> None:
        store.set("k", b"v")
        store.commit([], [Exists("k")])
        with pytest.raises(AssertionFailedError):
            store.commit([], [Absent("k")])
        assert list(store.scan()) == [store.get("k")]

    def test_put_and_delete_of_one_key_in_one_commit(self, store: PersistentStore) -> None:
        store.set("both", b"old")
        store.commit([Put("both", b"new"), Delete("both")])
        assert not store.exists("both")
        revision = store.commit([Delete("both"), Put("both", b"again")])
        assert store.get("both") == Entry("both", b"again", revision)
        store.commit([Put("twice", b"1"), Put("twice", b"2")])
        assert store.get("twice").value == b"2"
        store.commit([Delete("absent")])  # deleting an absent key is not an error
        assert list(store.keys()) == ["both", "twice"]

    def test_commit_many_operations(self, store: PersistentStore) -> None:
        revision = store.commit([Put(f"m/{i:03d}", b"%d" % i) for i in range(200)])
        entries = list(store.scan("m/", page_size=64))
        assert len(entries) == 200
        assert {entry.revision for entry in entries} == {revision}

    # concurrency

    def test_guarded_increments_from_threads(self, store: PersistentStore) -> None:
        store.set("counter", b"0")
        threads, times = 8, 20
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                barrier.wait(30)
                for _ in range(times):
                    while True:
                        entry = store.get("counter")
                        try:
                            store.commit(
                                [Put("counter", b"%d" % (int(entry.value) + 1))],
                                [RevisionIs("counter", entry.revision)],
                            )
                            break
                        except AssertionFailedError:
                            continue
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert not errors, errors
        assert store.get("counter").value == b"%d" % (threads * times)

    @pytest.mark.slow
    def test_guarded_increments_from_processes(
        self, store: PersistentStore, store_url: str
    ) -> None:
        store.set("counter", b"0")
        processes, times = 4, 15
        revisions = run_processes(_increment_worker, [(store_url, "counter", times)] * processes)
        assert store.get("counter").value == b"%d" % (processes * times)
        flat = [revision for mine in revisions for revision in mine]
        assert all(mine == sorted(mine) for mine in revisions)
        assert len(set(flat)) == len(flat), "two processes' writes got the same revision"

    # the stateful model test

    def test_stateful_against_a_dict_model(self, store: PersistentStore) -> None:
        run_store_machine(store)

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


# -- the volatile cache suite -------------------------------------------------------------

_JSON_VALUES: dict[str, Any] = {
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "int": -(2**53),
    "float": 0.1,
    "big-float": 1.5e300,
    "empty-str": "",
    "str": "h\u00e9llo \u65e5\u672c \U0001f600",
    "list": [1, "two", 3.0, None, [], {}],
    "dict": {"a": {"b": [True, False, None]}, "\u00fc": 1.25, "": "empty key"},
    "big": {"blob": "x" * 100_000},
}


class VolatileCacheConformance:
    """Tests every :class:`~dalcore.api.VolatileCache` must pass (subclass it, see above)."""

    @pytest.fixture
    def cache(self) -> Iterator[VolatileCache]:
        raise NotImplementedError(f"{type(self).__name__} must define a `cache` fixture")

    @pytest.fixture
    def cache_url(self) -> str:
        pytest.skip("backend is per-process: no cache_url fixture, multi-process tests skipped")

    def test_miss_is_no_value(self, cache: VolatileCache) -> None:
        assert cache.get("missing") is NO_VALUE
        assert cache.get_many(["missing", "other"]) == [NO_VALUE, NO_VALUE]
        assert cache.get_many([]) == []

    def test_none_is_a_real_value(self, cache: VolatileCache) -> None:
        cache.set("k", None)
        assert cache.get("k") is None
        assert cache.get_many(["k"]) == [None]
        assert cache.add("k", 1) is False

    def test_json_values_round_trip(self, cache: VolatileCache) -> None:
        for key, value in _JSON_VALUES.items():
            cache.set(key, value)
        for key, value in _JSON_VALUES.items():
            got = cache.get(key)
            assert got == value and type(got) is type(value), key
        assert cache.get_many(list(_JSON_VALUES)) == list(_JSON_VALUES.values())

    def test_set_overwrites(self, cache: VolatileCache) -> None:
        cache.set("k", "one")
        cache.set("k", {"two": 2})
        assert cache.get("k") == {"two": 2}

    def test_get_many_keeps_order_and_duplicates(self, cache: VolatileCache) -> None:
        cache.set_many({"a": 1, "b": [2], "c": "3"})
        assert cache.get_many(["c", "missing", "a", "c", "b"]) == ["3", NO_VALUE, 1, "3", [2]]

    def test_unusual_keys(self, cache: VolatileCache) -> None:
        keys = [*ODD_KEYS[:16], "x" * 300, "guid/6f1c2a9e-3b1d-4d0e-9a4e-2a5b9c8d7e6f:field"]
        cache.set_many({key: index for index, key in enumerate(keys)})
        assert cache.get_many(keys) == list(range(len(keys)))
        cache.delete_many(keys[::2])
        assert cache.get_many(keys) == [
            NO_VALUE if index % 2 == 0 else index for index in range(len(keys))
        ]

    def test_delete(self, cache: VolatileCache) -> None:
        cache.set_many({"a": 1, "b": 2, "c": 3})
        cache.delete("a")
        cache.delete("never")
        assert cache.get_many(["a", "b"]) == [NO_VALUE, 2]
        cache.delete_many(["b", "c", "never"])
        cache.delete_many([])
        assert cache.get_many(["a", "b", "c"]) == [NO_VALUE] * 3

    def test_add(self, cache: VolatileCache) -> None:
        assert cache.add("k", "first") is True
        assert cache.add("k", "second") is False
        assert cache.get("k") == "first"
        cache.delete("k")
        assert cache.add("k", {"third": 3}) is True
        assert cache.get("k") == {"third": 3}

    def test_gets_then_cas(self, cache: VolatileCache) -> None:
        assert cache.gets("k") == (NO_VALUE, None)
        assert cache.cas("k", "first", None) is True  # token None: only while absent
        assert cache.cas("k", "again", None) is False
        value, token = cache.gets("k")
        assert value == "first" and token is not None
        assert cache.cas("k", ["second"], token) is True
        assert cache.get("k") == ["second"]

    def test_cas_loses_to_any_write_in_between(self, cache: VolatileCache) -> None:
        # A cache may refuse every cas on an existing key (the default): then nothing below
        # is stored, which is also correct. What must never happen is an overwrite.
        writes: list[Callable[[], None]] = [
            lambda: cache.set("k", "other"),
            lambda: cache.set_many({"k": "other"}),
            lambda: cache.delete("k"),
        ]
        for write in writes:
            cache.set("k", "seen")
            _, token = cache.gets("k")
            write()
            before = cache.get("k")
            assert cache.cas("k", "late", token) is False
            assert cache.get("k") == before
        cache.set("k", "seen")
        _, token = cache.gets("k")
        cache.delete("k")
        assert cache.add("k", "re-added") is True
        assert cache.cas("k", "late", token) is False
        assert cache.get("k") == "re-added"

    def test_cas_race_between_threads(self, cache: VolatileCache) -> None:
        threads = 8
        cache.set("k", "start")
        tokens = [cache.gets("k")[1] for _ in range(threads)]
        barrier = threading.Barrier(threads)
        wins: list[int] = []

        def work(me: int) -> None:
            barrier.wait(30)
            if cache.cas("k", me, tokens[me]):
                wins.append(me)

        workers = [threading.Thread(target=work, args=(me,)) for me in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert len(wins) <= 1, f"{len(wins)} threads replaced the same entry: {wins}"
        assert cache.get("k") == (wins[0] if wins else "start")

    def test_incr(self, cache: VolatileCache) -> None:
        assert cache.incr("n") == 1
        assert cache.incr("n") == 2
        assert cache.incr("n", 10) == 12
        assert cache.get("n") == 12
        assert cache.incr("m", 5) == 5
        cache.set("s", 40)
        assert cache.incr("s", 2) == 42
        assert cache.get("s") == 42

    def test_incr_from_threads_is_atomic(self, cache: VolatileCache) -> None:
        threads, times = 8, 50
        barrier = threading.Barrier(threads)
        seen: list[int] = []

        def work() -> None:
            barrier.wait(30)
            seen.extend(cache.incr("n") for _ in range(times))

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert sorted(seen) == list(range(1, threads * times + 1))
        assert cache.get("n") == threads * times

    def test_clear(self, cache: VolatileCache) -> None:
        cache.set_many({"a": 1, "b": None, "c": [3]})
        cache.clear()
        assert cache.get_many(["a", "b", "c"]) == [NO_VALUE] * 3
        cache.set("a", 2)
        assert cache.get("a") == 2

    @pytest.mark.slow
    def test_ttl_expiry(self, cache: VolatileCache) -> None:
        cache.set("set", 1, ttl=1)
        cache.set_many({"many/1": 1, "many/2": None}, ttl=1)
        assert cache.add("added", 1, ttl=1)
        assert cache.incr("counted", 1, ttl=1) == 1
        cache.set("forever", "f", ttl=None)
        cache.set("long", "l", ttl=120)
        short = ["set", "many/1", "many/2", "added", "counted"]
        assert cache.get_many(short) == [1, 1, None, 1, 1]
        time.sleep(2.5)  # memcached counts whole seconds: ttl=1 ends within 2s
        assert cache.get_many([*short, "forever", "long"]) == [NO_VALUE] * 5 + ["f", "l"]
        assert cache.add("added", 2) is True

    def test_add_race_between_threads(self, cache: VolatileCache) -> None:
        threads, rounds = 12, 10
        barrier = threading.Barrier(threads)
        wins: dict[str, list[int]] = {f"race/{r}": [] for r in range(rounds)}
        errors: list[BaseException] = []

        def work(me: int) -> None:
            try:
                for key in wins:
                    barrier.wait(30)
                    if cache.add(key, me, ttl=60):
                        wins[key].append(me)
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(me,)) for me in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not errors, errors
        for key, winners in wins.items():
            assert len(winners) == 1, f"{key}: {len(winners)} threads won add()"
            assert cache.get(key) == winners[0]

    @pytest.mark.slow
    def test_add_race_between_processes(self, cache: VolatileCache, cache_url: str) -> None:
        results = run_processes(_cache_add_worker, [(cache_url, "race")] * 4)
        winners = [pid for won, pid in results if won]
        assert len(winners) == 1, f"{len(winners)} processes won add(): {results}"
        assert cache.get("race") == winners[0]
