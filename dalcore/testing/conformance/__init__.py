"""The conformance suite every dalcore backend must pass.

A backend's test module subclasses a suite class and provides fixtures::

    from dalcore.testing import PersistentStoreConformance

    class TestMyStore(PersistentStoreConformance):
        @pytest.fixture
        def store(self, tmp_path):        # a fresh, EMPTY store for each test
            with MyStore(tmp_path / "db") as store:
                yield store

        @pytest.fixture
        def store_url(self, tmp_path):    # optional: a URL other processes open for the same data
            return f"my://{tmp_path}/db"

The tests rely only on the store (cache) being empty when handed over, so a fixture may be a
fresh key prefix on a shared server. Data sizes stay small enough for a network store to run the
whole suite in well under a minute. Multi-process tests start their workers with ``spawn`` (fork
is unsafe with client libraries that run threads, such as gRPC) and run only when the URL
fixture is provided.
"""

from __future__ import annotations

from dalcore.testing.conformance._shared import ODD_KEYS, SHARED_PREFIX_KEYS, run_processes
from dalcore.testing.conformance.cache import VolatileCacheConformance
from dalcore.testing.conformance.capabilities import StoreCapabilities
from dalcore.testing.conformance.store import PersistentStoreConformance

__all__ = [
    "ODD_KEYS",
    "SHARED_PREFIX_KEYS",
    "PersistentStoreConformance",
    "StoreCapabilities",
    "VolatileCacheConformance",
    "run_processes",
]
