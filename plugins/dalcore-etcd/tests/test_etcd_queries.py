"""The query suite on real etcd, with an in-process cache in every process.

The cache is handed to dalcore unwrapped, so dalcore subscribes to etcd's watch for it: the
query-cache tests then also cover invalidation arriving through the watch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dalcore
from dalcore.api import PersistentStore
from dalcore.testing.queries import QueryBehaviour


class TestQueriesOnEtcd(QueryBehaviour):
    @pytest.fixture
    def backend_urls(
        self, fresh_url: str, fresh_store: PersistentStore
    ) -> Iterator[tuple[str, str]]:
        # fresh_store too: it removes what worker processes wrote under fresh_url.
        yield fresh_url, "memory://"
        # The multi-process tests configure this process from the URLs: close that store.
        dalcore.configure("memory://", "memory://")

    @pytest.fixture
    def backends(self, fresh_store: PersistentStore) -> Iterator[tuple[PersistentStore, Any]]:
        yield fresh_store, dalcore.open_volatile("memory://")
        # Leave no configuration (and no watch) on a store that fresh_store is about to close.
        dalcore.configure("memory://", "memory://")
