"""The persistent store suite: reads, scans, writes, revisions, commits and concurrency."""

from __future__ import annotations

import os
import threading
from itertools import islice

import pytest

from dalcore.api import (
    Absent,
    Check,
    Delete,
    Entry,
    Exists,
    PersistentStore,
    Put,
    RevisionIs,
    ValueIs,
)
from dalcore.errors import (
    AssertionFailedError,
    KeyNotFoundError,
)
from dalcore.testing._store_machine import run_store_machine
from dalcore.testing.conformance._shared import (
    ODD_KEYS,
    SHARED_PREFIX_KEYS,
    _increment_worker,
    _utf8_order,
    run_processes,
)
from dalcore.testing.conformance.capabilities import StoreCapabilities


class PersistentStoreConformance(StoreCapabilities):
    """Tests every :class:`~dalcore.api.PersistentStore` must pass (subclass it, see above)."""

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
