"""Watches: changes made by another process reach the watcher, keys without the URL prefix."""

from __future__ import annotations

import queue
import subprocess
import sys

import dalcore
from dalcore.api import WatchEvent

WRITER = """
import sys, dalcore
from dalcore.api import Put, Delete
with dalcore.open_persistent(sys.argv[1]) as store:
    store.set("w/one", b"1")
    store.commit([Put("w/two", b"2"), Delete("w/one"), Put("elsewhere", b"x")])
    print(store.get("w/two").revision)
"""


def test_watcher_sees_another_process(fresh_url: str) -> None:
    events: queue.Queue[WatchEvent] = queue.Queue()
    with dalcore.open_persistent(fresh_url) as store:
        handle = store.watch("w/", events.put)
        try:
            done = subprocess.run(
                [sys.executable, "-c", WRITER, fresh_url],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            revision = int(done.stdout)
            first = events.get(timeout=10)
            assert first.key == "w/one" and first.value == b"1"
            rest = {events.get(timeout=10), events.get(timeout=10)}
            assert rest == {
                WatchEvent("w/two", b"2", revision),
                WatchEvent("w/one", None, revision),
            }
        finally:
            handle.cancel()
        assert events.empty()
        store.delete_prefix("")


def test_a_failing_callback_does_not_end_the_watch(fresh_url: str) -> None:
    seen: queue.Queue[str] = queue.Queue()

    def callback(event: WatchEvent) -> None:
        seen.put(event.key)
        if event.key == "bad":
            raise RuntimeError("subscriber bug")

    with dalcore.open_persistent(fresh_url) as store:
        handle = store.watch("", callback)
        store.set("bad", b"")
        store.set("good", b"")
        assert [seen.get(timeout=10), seen.get(timeout=10)] == ["bad", "good"]
        handle.cancel()
        store.delete_prefix("")


def test_close_ends_open_watches(fresh_url: str) -> None:
    events: queue.Queue[WatchEvent] = queue.Queue()
    store = dalcore.open_persistent(fresh_url)
    store.watch("", events.put)
    store.close()
    with dalcore.open_persistent(fresh_url) as other:
        other.set("after-close", b"")
        other.delete_prefix("")
    assert events.empty()
