"""``sqlite://`` watch: the change log seen from other processes, pruning, and the engine on top.

Waits are bounded polls ("until it shows up, at most N seconds"), never assertions on time.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dalcore
from dalcore import _runtime
from dalcore._backends.sqlite import SQLiteStore
from dalcore._layout import prefix, reverse_prefix
from dalcore.api import Delete, Put, WatchEvent
from dalcore.errors import StoreUnavailableError
from dalcore.testing._query_hybrids import Rack, Server
from dalcore.testing.conformance import run_processes

Events = queue.Queue[WatchEvent]


def _url(path: Path, query: str = "poll=0.01") -> str:
    return f"sqlite://{path}" + (f"?{query}" if query else "")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with dalcore.open_persistent(_url(tmp_path / "watched.db")) as opened:
        assert isinstance(opened, SQLiteStore)
        yield opened


def _take(events: Events, count: int) -> list[WatchEvent]:
    return [events.get(timeout=10) for _ in range(count)]


def _eventually(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within}s: {what}")
        time.sleep(0.05)


# -- events ---------------------------------------------------------------------------------


def _child_writes(barrier: Any, url: str) -> list[int]:
    with dalcore.open_persistent(url) as store:
        barrier.wait(60)
        first = store.set("w/a", b"1")
        store.set("x/elsewhere", b"x")
        second = store.commit([Put("w/b", b"2"), Delete("w/a")])
        assert store.delete_prefix("w/") == 1
        return [first, second]


def test_events_from_another_process_and_this_one(store: SQLiteStore) -> None:
    events: Events = queue.Queue()
    handle = store.watch("w/", events.put)
    [[first, second]] = run_processes(_child_writes, [(store.endpoint,)])
    got = _take(events, 4)
    # Within one commit, events come in key order.
    assert got[:3] == [
        WatchEvent("w/a", b"1", first),
        WatchEvent("w/a", None, second),
        WatchEvent("w/b", b"2", second),
    ]
    assert got[3][:2] == ("w/b", None) and got[3].revision > second
    mine = store.set("w/mine", b"here")  # the watcher's own process is reported too
    assert _take(events, 1) == [WatchEvent("w/mine", b"here", mine)]
    handle.cancel()


def _child_commits(barrier: Any, url: str, me: int, commits: int) -> list[int]:
    with dalcore.open_persistent(url) as store:
        barrier.wait(60)
        return [
            store.commit([Put(f"o/{me}/{n:03d}/a", b"%d" % n), Put(f"o/{me}/{n:03d}/b", b"")])
            for n in range(commits)
        ]


@pytest.mark.slow
def test_events_of_concurrent_processes_arrive_in_revision_order(store: SQLiteStore) -> None:
    events: Events = queue.Queue()
    handle = store.watch("o/", events.put)
    results = run_processes(_child_commits, [(store.endpoint, me, 30) for me in range(2)])
    got = _take(events, 2 * 30 * 2)
    handle.cancel()
    order = [(event.revision, event.key) for event in got]
    assert order == sorted(order) and len(set(order)) == len(order)
    expected = {
        (f"o/{me}/{n:03d}/{part}", revision)
        for me, revisions in enumerate(results)
        for n, revision in enumerate(revisions)
        for part in "ab"
    }
    assert {(event.key, event.revision) for event in got} == expected
    assert all(event.value == b"%d" % int(event.key.split("/")[2]) for event in got[::2])


def test_each_watch_sees_only_its_prefix(store: SQLiteStore) -> None:
    prefixes = ["p/", "p/a/", "", "q"]
    queues: dict[str, Events] = {p: queue.Queue() for p in prefixes}
    handles = [store.watch(p, queues[p].put) for p in prefixes]
    keys = ["p/a/1", "p/b", "pa", "q/1", "p/a", "p", "qq", "\U0001f600"]
    for key in keys:
        store.set(key, key.encode())
    for watched in prefixes:
        wanted = [key for key in keys if key.startswith(watched)]
        assert [event.key for event in _take(queues[watched], len(wanted))] == wanted, watched
    # Nothing else is pending: the next event of each watch is the one written next.
    store.commit([Put("p/a/zz", b""), Put("q/zz", b"")])
    assert _take(queues["p/"], 1)[0].key == "p/a/zz"
    assert _take(queues["p/a/"], 1)[0].key == "p/a/zz"
    assert [e.key for e in _take(queues[""], 2)] == ["p/a/zz", "q/zz"]
    assert _take(queues["q"], 1)[0].key == "q/zz"
    for handle in handles:
        handle.cancel()


def test_one_event_per_key_and_commit_and_none_for_absent_deletes(store: SQLiteStore) -> None:
    store.set("k/kept", b"old")
    events: Events = queue.Queue()
    handle = store.watch("k/", events.put)
    flash = store.commit([Put("k/flash", b"x"), Delete("k/flash")])
    store.commit([Delete("k/never")])  # nothing existed: nothing changed
    assert store.delete("k/never") is False
    again = store.commit([Delete("k/kept"), Put("k/kept", b"new")])
    assert store.delete_prefix("k/none/") == 0
    assert _take(events, 2) == [
        WatchEvent("k/flash", None, flash),
        WatchEvent("k/kept", b"new", again),
    ]
    last = store.set("k/last", b"")
    assert _take(events, 1) == [WatchEvent("k/last", b"", last)]
    handle.cancel()


def test_a_watch_sees_only_changes_after_it_started(store: SQLiteStore) -> None:
    early: Events = queue.Queue()
    first = store.watch("s/", early.put)
    store.set("s/1", b"1")
    assert _take(early, 1)[0].key == "s/1"
    late: Events = queue.Queue()
    second = store.watch("s/", late.put)  # the poller is running already
    store.set("s/2", b"2")
    assert _take(late, 1)[0].key == "s/2"
    assert _take(early, 1)[0].key == "s/2"
    first.cancel()
    second.cancel()


# -- cancel, close, failures ----------------------------------------------------------------


def test_cancel_from_the_callback_and_the_thread_ends_with_the_last_watch(
    store: SQLiteStore,
) -> None:
    seen: list[str] = []
    handle: list[Any] = []

    def once(event: WatchEvent) -> None:
        seen.append(event.key)
        handle[0].cancel()

    handle.append(store.watch("c/", once))
    events: Events = queue.Queue()
    other = store.watch("c/", events.put)
    store.set("c/1", b"")
    store.set("c/2", b"")
    assert [e.key for e in _take(events, 2)] == ["c/1", "c/2"]
    assert seen == ["c/1"]
    thread = store._poller._thread
    assert thread is not None and thread.is_alive()
    other.cancel()
    _eventually(lambda: not thread.is_alive(), "the poller to stop after the last cancel")
    assert store._poller._thread is None
    store.set("c/3", b"")
    restarted = store.watch("c/", events.put)  # a new watch starts a new thread
    store.set("c/4", b"")
    assert _take(events, 1)[0].key == "c/4"
    restarted.cancel()


def test_close_stops_the_thread_and_refuses_new_watches(tmp_path: Path) -> None:
    store = dalcore.open_persistent(_url(tmp_path / "closing.db"))
    assert isinstance(store, SQLiteStore)
    store.watch("", lambda event: None)
    thread = store._poller._thread
    assert thread is not None and thread.is_alive()
    store.close()
    assert not thread.is_alive()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.watch("", lambda event: None)


def test_a_failing_callback_does_not_stop_delivery(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(event: WatchEvent) -> None:
        calls.append(event.key)
        raise RuntimeError("subscriber bug")

    events: Events = queue.Queue()
    handles = [store.watch("f/", broken), store.watch("f/", events.put)]
    with caplog.at_level(logging.ERROR, logger="dalcore.sqlite"):
        store.set("f/1", b"")
        store.set("f/2", b"")
        assert [e.key for e in _take(events, 2)] == ["f/1", "f/2"]
    assert calls == ["f/1", "f/2"]
    assert "subscriber bug" in caplog.text
    for handle in handles:
        handle.cancel()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_runs_its_own_poller(store: SQLiteStore) -> None:
    events: Events = queue.Queue()
    handle = store.watch("fork/", events.put)
    parents = store._poller._thread
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 9
        try:
            thread = store._poller._thread
            if thread is None or thread is parents or not thread.is_alive():
                code = 2
            else:
                store.set("fork/child", b"c")
                got = events.get(timeout=10)  # the child's copy of the queue
                code = 0 if got.key == "fork/child" else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _take(events, 1)[0][:2] == ("fork/child", b"c")  # the parent's poller goes on
    handle.cancel()


# -- the log's length -----------------------------------------------------------------------


def _log_span(store: SQLiteStore) -> tuple[int, int, int]:
    def work(conn: sqlite3.Connection) -> tuple[int, int, int]:
        low, high = conn.execute("SELECT min(revision), max(revision) FROM changes").fetchone()
        floor = conn.execute("SELECT value FROM meta WHERE name = 'log_floor'").fetchone()[0]
        return low, high, floor

    return store._run(work)


def test_the_log_is_pruned_to_log_keep_revisions(tmp_path: Path) -> None:
    with dalcore.open_persistent(_url(tmp_path / "pruned.db", "log_keep=16")) as store:
        assert isinstance(store, SQLiteStore)
        for n in range(200):
            store.commit([Put(f"n/{n % 7}", b"%d" % n), Put("n/total", b"%d" % n)])
        low, high, floor = _log_span(store)
        assert high == store.set("n/end", b"") - 1
        assert high - low < 16 + 2  # pruned every 2 revisions down to 16
        assert floor == low - 1


def test_a_watcher_behind_the_log_gets_the_current_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with dalcore.open_persistent(_url(tmp_path / "gap.db", "poll=0.01&log_keep=8")) as store:
        for key in ["g/kept", "g/changed", "g/deleted-early", "g/deleted-late"]:
            store.set(key, b"before")
        stalled, release = threading.Event(), threading.Event()
        events: Events = queue.Queue()

        def slow(event: WatchEvent) -> None:
            events.put(event)
            if event.key == "g/first":  # hold the poller thread, as a stopped process would
                stalled.set()
                release.wait(30)

        handle = store.watch("g/", slow)
        store.set("g/first", b"")
        assert stalled.wait(10)
        store.delete("g/deleted-early")
        store.commit([Put("g/flash", b"")])
        store.delete("g/flash")
        for n in range(20):
            store.set("g/changed", b"%d" % n)
            store.set("elsewhere", b"%d" % n)
        late = store.commit([Delete("g/deleted-late"), Put("g/new", b"n")])
        end = store.set("g/zz-end", b"")
        changed = store.get("g/changed").revision
        with caplog.at_level(logging.WARNING, logger="dalcore.sqlite"):
            release.set()
            got = _take(events, 5)
        handle.cancel()
    assert got[0].key == "g/first"
    # Every key that changed and exists now, with its value now, plus the deletions the log
    # still holds; the early deletion and the key that came and went were pruned unseen.
    assert got[1:] == [
        WatchEvent("g/changed", b"19", changed),
        WatchEvent("g/deleted-late", None, late),
        WatchEvent("g/new", b"n", late),
        WatchEvent("g/zz-end", b"", end),
    ]
    assert "fell more than the change log's length behind" in caplog.text


# -- upgrading a file written before the change log -----------------------------------------

_VERSION_1 = [
    "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL,"
    " revision INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO meta (name, value) VALUES ('revision', 7)",
    "INSERT INTO kv (key, value, revision) VALUES ('old/a', x'31', 5), ('old/b', x'32', 7)",
    "PRAGMA user_version=1",
]


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    for statement in _VERSION_1:
        raw.execute(statement)
    raw.close()
    with dalcore.open_persistent(_url(path)) as store:
        assert isinstance(store, SQLiteStore)
        assert [(e.key, e.value, e.revision) for e in store.scan()] == [
            ("old/a", b"1", 5),
            ("old/b", b"2", 7),
        ]
        events: Events = queue.Queue()
        handle = store.watch("old/", events.put)
        assert _log_span(store)[2] == 7  # nothing before the upgrade is in the log
        revision = store.commit([Put("old/a", b"new"), Delete("old/b")])
        assert revision == 8
        assert _take(events, 2) == [
            WatchEvent("old/a", b"new", 8),
            WatchEvent("old/b", None, 8),
        ]
        handle.cancel()
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        check.close()
    with dalcore.open_persistent(_url(path)) as again:  # a version 2 file opens as it is
        assert again.get("old/a").value == b"new"


# -- the engine: per-process caches kept correct across processes ---------------------------


def _engine_worker(url: str, namespace: str, commands: Any, replies: Any) -> None:
    """Process A: saves what the test asks, on its own runtime."""
    dalcore.configure(url, "memory://", namespace=namespace)
    racks: dict[str, Rack] = {}
    while True:
        command, argument = commands.get(timeout=120)
        try:
            if command == "stop":
                return
            if command == "create":
                rack = Rack(name="r1")
                rack.save()
                racks["main"] = rack
                Server(name="s1", rack=rack).save()
                replies.put(("ok", rack.guid))
            elif command == "rename":
                rack = Rack(argument)
                rack.name = "r2"
                rack.save()
                replies.put(("ok", None))
            elif command == "add-to-rack":
                Server(name="s2", colour="blue", rack=Rack(argument)).save()
                replies.put(("ok", None))
            elif command == "add-red":
                Server(name="s3", colour="red").save()
                replies.put(("ok", None))
        except Exception as exc:  # reported to the test, which fails with it
            replies.put(("error", repr(exc)))


class _ProcessA:
    def __init__(self, url: str, namespace: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.commands: Any = context.Queue()
        self.replies: Any = context.Queue()
        self.process = context.Process(
            target=_engine_worker, args=(url, namespace, self.commands, self.replies), daemon=True
        )
        self.process.start()

    def __call__(self, command: str, argument: str | None = None) -> Any:
        self.commands.put((command, argument))
        kind, answer = self.replies.get(timeout=60)
        assert kind == "ok", answer
        return answer

    def stop(self) -> None:
        self.commands.put(("stop", None))
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@pytest.fixture
def process_b(tmp_path: Path) -> Iterator[tuple[_runtime.Runtime, _ProcessA]]:
    """This process is B, configured like A: one SQLite file, each its own memory:// cache."""
    url = _url(tmp_path / "engine.db")
    namespace = "w" + uuid.uuid4().hex[:8]
    runtime = dalcore.open_runtime(url, "memory://", namespace=namespace)
    assert runtime._watch is not None  # the feed is subscribed
    other = _ProcessA(url, namespace)
    try:
        with dalcore.using(runtime):
            yield runtime, other
    finally:
        other.stop()
        runtime.close()


@pytest.mark.slow
def test_a_save_in_one_process_reaches_the_cache_of_another(
    process_b: tuple[_runtime.Runtime, _ProcessA],
) -> None:
    rt, process_a = process_b
    # A watch of B's own, on the same poller after the engine's feed: once it has seen a key
    # written after A's step, the feed has applied every event of that step.
    probe: Events = queue.Queue()
    probe_handle = rt.store.watch("", probe.put)

    def settle() -> None:
        token = f"sync/{uuid.uuid4().hex}"
        rt.store.set(token, b"")
        while probe.get(timeout=10).key != token:
            pass

    def cached(key: str) -> bool:
        return isinstance(rt.cache.get(key), list)

    rack_guid = process_a("create")
    object_key = "o:" + prefix(rt, Rack._meta) + rack_guid
    list_key = "r:" + reverse_prefix(rt, Server._meta, Server._meta.relations["rack"], rack_guid)
    settle()
    # A's commits hold their keys in B's cache for a few seconds (that is the feed at work);
    # B loads until its cache serves the object, the reverse list and the query.
    _eventually(lambda: Rack(rack_guid).name == "r1" and cached(object_key), "the rack cached in B")
    process_a("rename", rack_guid)
    _eventually(lambda: Rack(rack_guid).name == "r2", "B to see A's new version", within=5)

    settle()
    _eventually(
        lambda: [s.name for s in Rack(rack_guid).servers] == ["s1"] and cached(list_key),
        "the reverse list cached in B",
    )
    process_a("add-to-rack", rack_guid)
    _eventually(
        lambda: sorted(s.name for s in Rack(rack_guid).servers) == ["s1", "s2"],
        "B to see the server A added to the rack",
        within=5,
    )

    settle()
    _eventually(
        lambda: (
            len(Server.where(colour="red")) == 1 and Server.where(colour="red").explain()["cached"]
        ),
        "the query cached in B",
    )
    process_a("add-red")
    _eventually(
        lambda: sorted(s.name for s in Server.where(colour="red")) == ["s1", "s3"],
        "B's cached query to see A's new red server",
        within=5,
    )
    probe_handle.cancel()
