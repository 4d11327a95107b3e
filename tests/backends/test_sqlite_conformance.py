"""The ``sqlite://`` store against the generic conformance suite, multi-process tests included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import dalcore
from dalcore.api import PersistentStore
from dalcore.testing import PersistentStoreConformance


class TestSQLiteStore(PersistentStoreConformance):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite://{tmp_path / 'store.db'}"

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[PersistentStore]:
        with dalcore.open_persistent(store_url) as store:
            yield store
