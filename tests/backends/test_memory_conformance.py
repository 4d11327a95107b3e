"""The in-process ``memory://`` store against the generic conformance suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dalcore
from dalcore.api import PersistentStore
from dalcore.testing import PersistentStoreConformance


class TestMemoryStore(PersistentStoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[PersistentStore]:
        with dalcore.open_persistent("memory://") as store:
            yield store
