"""The multi-process coherence suite with memcached alone and with an in-process cache in front
of it (``"memory:// memcached://..."``), over SQLite and over etcd."""

from __future__ import annotations

from pathlib import Path

import pytest

from dalcore.testing.coherence import CoherenceBehaviour


@pytest.fixture(params=["memcached", "memory+memcached"])
def volatile(request: pytest.FixtureRequest, fresh_cache_url: str) -> str:
    return fresh_cache_url if request.param == "memcached" else f"memory:// {fresh_cache_url}"


class TestCoherenceOnSQLite(CoherenceBehaviour):
    @pytest.fixture
    def coherence_urls(self, tmp_path: Path, volatile: str) -> tuple[str, str]:
        return f"sqlite://{tmp_path / 'coherence.db'}", volatile


class TestCoherenceOnEtcd(CoherenceBehaviour):
    @pytest.fixture
    def coherence_urls(self, fresh_etcd_url: str, volatile: str) -> tuple[str, str]:
        return fresh_etcd_url, volatile
