"""The Redis store and cache against dalcore's generic conformance suites, on a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dalcore
from dalcore.api import PersistentStore, VolatileCache
from dalcore.testing import PersistentStoreConformance, VolatileCacheConformance


class TestRedisStore(PersistentStoreConformance):
    @pytest.fixture
    def store_url(self, fresh_store_url: str) -> str:
        return fresh_store_url

    @pytest.fixture
    def store(self, fresh_store: PersistentStore) -> PersistentStore:
        return fresh_store


class TestRedisCache(VolatileCacheConformance):
    @pytest.fixture
    def cache(self, fresh_cache_url: str) -> Iterator[VolatileCache]:
        opened = dalcore.open_volatile(fresh_cache_url)
        try:
            yield opened
        finally:
            opened.clear()
            opened.close()

    @pytest.fixture
    def cache_url(self, fresh_cache_url: str) -> str:
        return fresh_cache_url
