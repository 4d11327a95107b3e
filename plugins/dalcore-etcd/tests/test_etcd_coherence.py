"""The multi-process coherence suite on etcd, with each cache that needs no other server.

memcached in front of etcd runs in the memcached plugin's tests.
"""

from __future__ import annotations

import pytest

from dalcore.api import PersistentStore
from dalcore.testing.coherence import CoherenceBehaviour


class TestCoherenceOnEtcd(CoherenceBehaviour):
    @pytest.fixture(params=["memory://", "none://"])
    def coherence_urls(
        self, request: pytest.FixtureRequest, fresh_url: str, fresh_store: PersistentStore
    ) -> tuple[str, str]:
        # fresh_store too: it removes what worker processes wrote under fresh_url.
        return fresh_url, str(request.param)
