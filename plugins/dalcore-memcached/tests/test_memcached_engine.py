"""The engine behaviour suite with memcached as the volatile cache, over SQLite and over etcd.

Every test uses the session's memcached servers under a key prefix of its own, so the cache looks
empty. Unlike an in-process cache, memcached is shared by every process of the service: the
``locked`` dynamic must then be computed once across processes, which the suite (whose caches
may be per process) cannot ask of every cache; :class:`SharedCacheBehaviour` adds that test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dalcore
from dalcore.testing._engine_hybrids import CALLS, Gauge
from dalcore.testing.conformance import run_processes
from dalcore.testing.engine import Dal, EngineBehaviour

PROCESSES = 4


def _mp_read_locked(
    barrier: Any, persistent: str, volatile: str, ns: str, guid: str
) -> tuple[Any, int]:
    """Read the locked dynamic cold; returns the value and how often THIS process computed it."""
    dalcore.configure(persistent, volatile, namespace=ns)
    gauge: Any = Gauge(guid)
    barrier.wait(60)
    return gauge.slow, CALLS[(guid, "slow")]


class SharedCacheBehaviour:
    """Engine behaviour that needs a cache shared by all processes."""

    def test_locked_dynamic_runs_once_across_processes(
        self, dal: Dal, backend_urls: tuple[str, str]
    ) -> None:
        persistent, volatile = backend_urls
        gauge: Any = Gauge(name="shared", level=4)
        gauge.save()
        outcomes = run_processes(
            _mp_read_locked, [(persistent, volatile, dal.ns, gauge.guid)] * PROCESSES
        )
        assert [value for value, _ in outcomes] == [40] * PROCESSES
        assert sum(calls for _, calls in outcomes) == 1
        assert gauge.slow == 40 and CALLS[(gauge.guid, "slow")] == 0  # served from memcached


class TestEngineOnSQLiteMemcached(SharedCacheBehaviour, EngineBehaviour):
    @pytest.fixture
    def backend_urls(self, tmp_path: Path, fresh_cache_url: str) -> tuple[str, str]:
        return f"sqlite://{tmp_path / 'engine.db'}", fresh_cache_url

    @pytest.fixture
    def backends(self, backend_urls: tuple[str, str]) -> tuple[str, str]:
        return backend_urls


class TestEngineOnEtcdMemcached(SharedCacheBehaviour, EngineBehaviour):
    @pytest.fixture
    def backend_urls(self, fresh_etcd_url: str, fresh_cache_url: str) -> tuple[str, str]:
        return fresh_etcd_url, fresh_cache_url

    @pytest.fixture
    def backends(self, backend_urls: tuple[str, str]) -> tuple[str, str]:
        return backend_urls
