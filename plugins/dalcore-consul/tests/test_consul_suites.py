"""The shared conformance, engine, query and coherence suites on a real Consul agent (skipped,
with the reason, where none can be had: see conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dalcore
from dalcore.api import PersistentStore
from dalcore.testing import PersistentStoreConformance
from dalcore.testing.coherence import CoherenceBehaviour
from dalcore.testing.engine import EngineBehaviour
from dalcore.testing.queries import QueryBehaviour


class TestConsulStore(PersistentStoreConformance):
    @pytest.fixture
    def store_url(self, fresh_store_url: str) -> str:
        return fresh_store_url

    @pytest.fixture
    def store(self, fresh_store: PersistentStore) -> PersistentStore:
        return fresh_store


class _OnConsul:
    @pytest.fixture
    def backend_urls(
        self, fresh_store_url: str, fresh_store: PersistentStore
    ) -> Iterator[tuple[str, str]]:
        yield fresh_store_url, "memory://"
        dalcore.configure("memory://", "memory://")

    @pytest.fixture
    def backends(self, fresh_store: PersistentStore) -> Iterator[tuple[PersistentStore, Any]]:
        yield fresh_store, dalcore.open_volatile("memory://")
        dalcore.configure("memory://", "memory://")


class TestEngineOnConsul(_OnConsul, EngineBehaviour):
    pass


class TestQueriesOnConsul(_OnConsul, QueryBehaviour):
    pass


class TestCoherenceOnConsul(CoherenceBehaviour):
    @pytest.fixture(params=["memory://", "none://"])
    def coherence_urls(
        self, request: pytest.FixtureRequest, fresh_store_url: str, fresh_store: PersistentStore
    ) -> tuple[str, str]:
        return fresh_store_url, str(request.param)
