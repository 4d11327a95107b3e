"""The query suite with memcached as the volatile cache, over SQLite and over etcd.

Every test uses the session's memcached servers under a key prefix of its own. memcached is
shared by all processes, so the volatile mutex must exclude across processes too:
:class:`SharedCacheQueries` adds that test to the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dalcore
from dalcore import VolatileMutex
from dalcore.api import PersistentStore, VolatileCache
from dalcore.testing.conformance import run_processes
from dalcore.testing.queries import QueryBehaviour

PROCESSES = 3
ROUNDS = 20


def _mp_count_under_volatile_mutex(
    barrier: Any, persistent: str, volatile: str, ns: str, key: str
) -> None:
    """Read-modify-write a cache counter ROUNDS times, each under the volatile mutex."""
    runtime = dalcore.configure(persistent, volatile, namespace=ns)
    cache = runtime.cache
    barrier.wait(60)
    for _ in range(ROUNDS):
        with VolatileMutex(cache, key, ttl=30, wait=60):
            # get-then-set is not atomic: without mutual exclusion, increments get lost.
            cache.set(key, cache.get(key) + 1)


class SharedCacheQueries:
    """Query-suite behaviour that needs a cache shared by all processes."""

    def test_volatile_mutex_across_processes(self, backend_urls: Any, namespace: str) -> None:
        runtime = dalcore.configure(backend_urls[0], backend_urls[1], namespace=namespace)
        key = f"{namespace}-counter"
        runtime.cache.set(key, 0)
        run_processes(
            _mp_count_under_volatile_mutex,
            [(backend_urls[0], backend_urls[1], namespace, key)] * PROCESSES,
        )
        assert runtime.cache.get(key) == PROCESSES * ROUNDS


def _opened(url: str, cache_url: str) -> Iterator[tuple[PersistentStore, VolatileCache]]:
    store = dalcore.open_persistent(url)
    try:
        yield store, dalcore.open_volatile(cache_url)
        # Replacing the configuration closes the cache and stops using the store.
        dalcore.configure("memory://", "memory://")
    finally:
        store.close()


class TestQueriesOnSQLiteMemcached(SharedCacheQueries, QueryBehaviour):
    @pytest.fixture
    def backend_urls(self, tmp_path: Path, fresh_cache_url: str) -> Iterator[tuple[str, str]]:
        yield f"sqlite://{tmp_path / 'queries.db'}", fresh_cache_url
        # The multi-process tests configure this process from the URLs: close those backends.
        dalcore.configure("memory://", "memory://")

    @pytest.fixture
    def backends(
        self, backend_urls: tuple[str, str]
    ) -> Iterator[tuple[PersistentStore, VolatileCache]]:
        yield from _opened(*backend_urls)


class TestQueriesOnEtcdMemcached(SharedCacheQueries, QueryBehaviour):
    @pytest.fixture
    def backend_urls(self, fresh_etcd_url: str, fresh_cache_url: str) -> Iterator[tuple[str, str]]:
        yield fresh_etcd_url, fresh_cache_url
        dalcore.configure("memory://", "memory://")

    @pytest.fixture
    def backends(
        self, backend_urls: tuple[str, str]
    ) -> Iterator[tuple[PersistentStore, VolatileCache]]:
        yield from _opened(*backend_urls)
