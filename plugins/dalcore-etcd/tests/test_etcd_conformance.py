"""The ``etcd://`` store against dalcore's generic conformance suite, on a real etcd member.

Each test gets a fresh key prefix on the session's shared member, so the store looks empty;
``store_url`` lets the multi-process tests open the same data from other processes.
"""

from __future__ import annotations

import pytest

from dalcore.api import PersistentStore
from dalcore.testing import PersistentStoreConformance


class TestEtcdStore(PersistentStoreConformance):
    @pytest.fixture
    def store_url(self, fresh_url: str) -> str:
        return fresh_url

    @pytest.fixture
    def store(self, fresh_store: PersistentStore) -> PersistentStore:
        return fresh_store
