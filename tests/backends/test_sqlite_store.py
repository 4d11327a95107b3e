"""What the conformance suite cannot know about ``sqlite://``: files, URLs, locking, damage."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import dalcore
from dalcore._backends.sqlite import SQLiteStore
from dalcore.api import Put
from dalcore.errors import CorruptDataError, InvalidURLError, StoreUnavailableError
from dalcore.testing.conformance import run_processes


def _url(path: Path, query: str = "") -> str:
    return f"sqlite://{path}" + (f"?{query}" if query else "")


# -- files and URLs -----------------------------------------------------------------------


def test_data_and_revisions_survive_reopening(tmp_path: Path) -> None:
    url = _url(tmp_path / "durable.db")
    with dalcore.open_persistent(url) as store:
        first = store.commit([Put("a", b"1"), Put("b", b"\x00\xff")])
        store.delete("b")
    with dalcore.open_persistent(url) as store:
        assert [(e.key, e.value, e.revision) for e in store.scan()] == [("a", b"1", first)]
        assert store.set("c", b"3") > first + 1  # the counter went on from the delete's revision


def test_file_is_in_wal_mode_with_full_sync_by_default(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with dalcore.open_persistent(_url(path)) as store:
        store.set("k", b"v")
        assert isinstance(store, SQLiteStore)
        assert store._run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == 2
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            raw.close()
    with dalcore.open_persistent(_url(path, "synchronous=normal")) as store:
        assert isinstance(store, SQLiteStore)
        assert store._run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == 1


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for url, name in [
        (f"sqlite://{tmp_path}/abs.db", "abs.db"),
        ("sqlite://rel.db", "rel.db"),
        ("sqlite://sub/nested.db", "sub/nested.db"),
        ("sqlite:plain.db?timeout=2.5", "plain.db"),
    ]:
        with dalcore.open_persistent(url) as store:
            store.set("k", url.encode())
            assert store.endpoint == f"sqlite://{tmp_path / name}"
        assert (tmp_path / name).exists(), url
    with dalcore.open_persistent("sqlite:plain.db") as store:
        assert isinstance(store, SQLiteStore)
        assert store.timeout == 30.0
        assert store.get("k").value == b"sqlite:plain.db?timeout=2.5"


def test_odd_file_names_round_trip_through_the_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "odd name 100%?#.db"
    with dalcore.open_persistent(f"sqlite://{quote(str(path))}") as store:
        store.set("k", b"v")
        endpoint = store.endpoint
    assert path.exists()
    with dalcore.open_persistent(endpoint) as again:
        assert again.get("k").value == b"v"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:",
        "sqlite::memory:",
        "sqlite:x.db?synchronous=off",
        "sqlite:x?timeout=soon",
        "sqlite:x.db?poll=0",
        "sqlite:x.db?poll=-1",
        "sqlite:x.db?poll=often",
        "sqlite:x.db?log_keep=0",
        "sqlite:x.db?log_keep=1.5",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(InvalidURLError):
        dalcore.open_persistent(url)


def test_watch_settings_come_from_the_url(tmp_path: Path) -> None:
    with dalcore.open_persistent(_url(tmp_path / "w.db", "poll=0.2&log_keep=64")) as store:
        assert isinstance(store, SQLiteStore)
        assert (store._poller.interval, store._log_keep, store._prune_every) == (0.2, 64, 8)
        assert "watch" in store.capabilities
    with dalcore.open_persistent(_url(tmp_path / "w.db")) as store:
        assert isinstance(store, SQLiteStore)
        assert (store._poller.interval, store._log_keep) == (0.05, 10_000)


def test_unopenable_path_is_unavailable_naming_the_path(tmp_path: Path) -> None:
    for path in [tmp_path / "no" / "such" / "dir" / "x.db", tmp_path]:
        with pytest.raises(StoreUnavailableError) as caught:
            dalcore.open_persistent(_url(path))
        assert str(path) in str(caught.value)
        assert isinstance(caught.value.cause, sqlite3.Error)


def test_a_file_that_is_not_a_database_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(CorruptDataError) as caught:
        dalcore.open_persistent(_url(path))
    assert str(path) in str(caught.value)
    assert "not a database" in str(caught.value)


def test_damaged_pages_are_corrupt_data(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    with dalcore.open_persistent(_url(path)) as store:
        store.commit([Put(f"k/{i:05d}", b"v" * 100) for i in range(2000)])
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 10 * page
    for offset in range(page, len(data), page):  # keep the header page, ruin every other one
        data[offset : offset + page] = os.urandom(page)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError) as caught, dalcore.open_persistent(_url(path)) as store:
        list(store.scan("k/"))
    assert str(path) in str(caught.value)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version=99")
    raw.close()
    with pytest.raises(StoreUnavailableError, match="schema version 99"):
        dalcore.open_persistent(_url(path))


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = dalcore.open_persistent(_url(tmp_path / "closed.db"))
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.get("k")


# -- locking ------------------------------------------------------------------------------


def test_readers_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with dalcore.open_persistent(_url(path, "timeout=0.2")) as store:
        store.set("k", b"old")
        writer = sqlite3.connect(path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE kv SET value = x'6e6577' WHERE key = 'k'")
            assert store.get("k").value == b"old"
            assert [e.value for e in store.scan()] == [b"old"]
        finally:
            writer.execute("ROLLBACK")
            writer.close()


def test_a_writer_waits_for_the_lock_then_gives_up_typed(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with dalcore.open_persistent(_url(path, "timeout=0.3")) as store:
        store.set("k", b"v")
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreUnavailableError) as caught:
                store.set("k", b"blocked")
            assert str(path) in str(caught.value)
            # Released while the writer waits: the write goes through.
            releaser = threading.Timer(0.1, lambda: holder.execute("COMMIT"))
            releaser.start()
            with dalcore.open_persistent(_url(path, "timeout=10")) as patient:
                patient.set("k", b"after")
            releaser.join()
        finally:
            holder.close()
        assert store.get("k").value == b"after"


def _writer(barrier: Any, url: str, me: int, commits: int) -> list[int]:
    revisions = []
    with dalcore.open_persistent(url) as store:
        barrier.wait(60)
        for n in range(commits):
            ops = [Put(f"w{me}/{n:03d}/{part}", b"%d" % me) for part in range(3)]
            revisions.append(store.commit(ops))
    return revisions


@pytest.mark.slow
def test_processes_writing_at_once(tmp_path: Path) -> None:
    url = _url(tmp_path / "shared.db", "timeout=20")
    processes, commits = 4, 40
    with dalcore.open_persistent(url) as store:
        results = run_processes(_writer, [(url, me, commits) for me in range(processes)])
        flat = sorted(revision for mine in results for revision in mine)
        assert len(set(flat)) == processes * commits
        assert len(list(store.keys())) == processes * commits * 3
        for me, mine in enumerate(results):
            assert mine == sorted(mine)
            for n, revision in enumerate(mine):
                assert store.get(f"w{me}/{n:03d}/2").revision == revision


def test_threads_beyond_the_pool(tmp_path: Path) -> None:
    with dalcore.open_persistent(_url(tmp_path / "threads.db")) as store:
        errors: list[BaseException] = []

        def work(me: int) -> None:
            try:
                for n in range(10):
                    store.set(f"t/{me:02d}/{n}", b"x")
                    assert store.get(f"t/{me:02d}/{n}").value == b"x"
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(me,)) for me in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert len(list(store.keys("t/"))) == 400


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_reuse_the_parents_connections(tmp_path: Path) -> None:
    with dalcore.open_persistent(_url(tmp_path / "fork.db")) as store:
        assert isinstance(store, SQLiteStore)
        store.set("k", b"parent")
        inherited = list(store._pool)
        assert inherited, "the parent should have an idle pooled connection"
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code only
            code = 3
            try:
                conn = store._checkout()
                code = 1 if any(conn is old for old in inherited) else 0
                store._checkin(conn)
                store.set("k", b"child")
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.get("k").value == b"child"
