"""The engine behaviour suite on real etcd, with an in-process cache in every process.

Each test gets an empty key prefix on the session's etcd member. Processes started by the
multi-process tests open the same prefix and a cache of their own; etcd's watch is what keeps
each process's cache in step with the others' commits.
"""

from __future__ import annotations

from typing import Any

import pytest

import dalcore
from dalcore.api import PersistentStore
from dalcore.testing.engine import EngineBehaviour


class TestEngineOnEtcd(EngineBehaviour):
    @pytest.fixture
    def backend_urls(self, fresh_url: str, fresh_store: PersistentStore) -> tuple[str, str]:
        # fresh_store too: it removes what worker processes wrote under fresh_url.
        return fresh_url, "memory://"

    @pytest.fixture
    def backends(self, fresh_store: PersistentStore) -> tuple[PersistentStore, Any]:
        # An opened store (not the URL): fresh_store removes the test's keys afterwards.
        return fresh_store, dalcore.open_volatile("memory://")
