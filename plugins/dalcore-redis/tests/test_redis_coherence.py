"""The multi-process coherence suite on Redis, with an in-process cache, none, Redis as the
shared cache, and the in-process cache in front of Redis."""

from __future__ import annotations

import pytest

from dalcore.api import PersistentStore
from dalcore.testing.coherence import CoherenceBehaviour


class TestCoherenceOnRedis(CoherenceBehaviour):
    @pytest.fixture(params=["memory://", "none://", "redis", "memory+redis"])
    def coherence_urls(
        self,
        request: pytest.FixtureRequest,
        fresh_store_url: str,
        fresh_cache_url: str,
        fresh_store: PersistentStore,
    ) -> tuple[str, str]:
        volatile = {"redis": fresh_cache_url, "memory+redis": f"memory:// {fresh_cache_url}"}
        return fresh_store_url, volatile.get(str(request.param), str(request.param))
