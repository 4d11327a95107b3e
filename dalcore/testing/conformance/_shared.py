"""What the conformance suites share: awkward keys, waiting helpers and the multi-process
plumbing (``run_processes`` and the workers it spawns, importable by module path)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from dalcore import open_persistent, open_volatile
from dalcore.api import (
    PersistentStore,
    Put,
    RevisionIs,
)
from dalcore.errors import (
    AssertionFailedError,
)

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


class StoreSuiteBase:
    """The fixtures of the store suites: ``store`` (required) and ``store_url`` (optional)."""

    @pytest.fixture
    def store(self) -> Iterator[PersistentStore]:
        raise NotImplementedError(f"{type(self).__name__} must define a `store` fixture")

    @pytest.fixture
    def store_url(self) -> str:
        pytest.skip("backend is per-process: no store_url fixture, multi-process tests skipped")
