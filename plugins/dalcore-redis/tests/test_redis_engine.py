"""The engine and query suites on Redis: with an in-process cache (kept current through the
store's stream watch and read barrier) and with Redis itself as the shared cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dalcore
from dalcore.api import PersistentStore
from dalcore.testing.engine import EngineBehaviour
from dalcore.testing.queries import QueryBehaviour


@pytest.fixture(params=["memory", "redis"])
def cache_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class _OnRedis:
    @pytest.fixture
    def backend_urls(
        self,
        fresh_store_url: str,
        fresh_cache_url: str,
        fresh_store: PersistentStore,
        cache_kind: str,
    ) -> Iterator[tuple[str, str]]:
        yield fresh_store_url, ("memory://" if cache_kind == "memory" else fresh_cache_url)
        dalcore.configure("memory://", "memory://")

    @pytest.fixture
    def backends(
        self, fresh_store: PersistentStore, fresh_cache_url: str, cache_kind: str
    ) -> Iterator[tuple[PersistentStore, Any]]:
        cache = dalcore.open_volatile("memory://" if cache_kind == "memory" else fresh_cache_url)
        yield fresh_store, cache
        dalcore.configure("memory://", "memory://")
        cache.clear()
        cache.close()


class TestEngineOnRedis(_OnRedis, EngineBehaviour):
    pass


class TestQueriesOnRedis(_OnRedis, QueryBehaviour):
    pass
